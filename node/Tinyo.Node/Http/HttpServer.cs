using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tinyo.Node.Http;

/// <summary>An answer: status and a JSON body, or a streamed body.</summary>
public sealed record HttpResponse(int Status, byte[] Body, string ContentType = "application/json")
{
    /// <summary>
    /// When set, the body is whatever this writes (<see cref="Body"/> is ignored), sent with
    /// <c>Transfer-Encoding: chunked</c> as it is written; then the connection closes. The token is cancelled when
    /// the client goes away or the server stops — a streamer that waits (log follow) must watch it.
    /// </summary>
    public Func<Stream, CancellationToken, Task>? Streamer { get; init; }
}

/// <summary>
/// A small HTTP/1.1 server on System.IO.Pipelines: request line, headers, Content-Length bodies, keep-alive,
/// strict limits. A malformed request gets a 4xx/5xx with a JSON error and the connection closes; a handler's
/// exception becomes a 500 — never a crash. ASP.NET is not used: it would add megabytes to the binary.
/// </summary>
public sealed class HttpServer : IAsyncDisposable
{
    private readonly Func<HttpRequest, CancellationToken, Task<HttpResponse>> handler;
    private readonly HttpLimits limits;
    private readonly List<Socket> listeners = [];
    private readonly CancellationTokenSource stop = new();
    private readonly List<Task> loops = [];
    private readonly Action<string> log;
    private int connections;

    /// <summary>Creates the server; call <see cref="ListenUnix"/> and/or <see cref="ListenTcp"/>.</summary>
    public HttpServer(Func<HttpRequest, CancellationToken, Task<HttpResponse>> handler, HttpLimits? limits = null, Action<string>? log = null)
    {
        this.handler = handler;
        this.limits = limits ?? new HttpLimits();
        this.log = log ?? (_ => { });
    }

    /// <summary>Idle time allowed between requests and while a request is being received.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Most concurrent connections; more are refused with 503.</summary>
    public int MaxConnections { get; init; } = 256;

    /// <summary>Listens on a unix socket, mode 0600 (root only): the socket's permission is its authentication.</summary>
    public void ListenUnix(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (File.Exists(path) || Directory.Exists(path))
        {
            // A stale socket from a killed node; a live node would answer.
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new NodeException($"{path}: another node is listening there");
            }
            catch (SocketException)
            {
                File.Delete(path);
            }
        }
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var old = Linux.Libc.Umask(0x7F); // 0177: the socket is created 0600, no window where others could connect
        try
        {
            s.Bind(new UnixDomainSocketEndPoint(path));
        }
        finally
        {
            Linux.Libc.Umask(old);
        }
        if (OperatingSystem.IsLinux()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        s.Listen(128);
        Start(s, local: true);
    }

    /// <summary>Listens on TCP (remote clients; bearer tokens required for everything but version and login).</summary>
    public IPEndPoint ListenTcp(IPEndPoint ep)
    {
        var s = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        s.Bind(ep);
        s.Listen(128);
        Start(s, local: false);
        return (IPEndPoint)s.LocalEndPoint!;
    }

    private void Start(Socket s, bool local)
    {
        listeners.Add(s);
        loops.Add(Task.Run(() => AcceptLoop(s, local)));
    }

    private async Task AcceptLoop(Socket listener, bool local)
    {
        while (!stop.IsCancellationRequested)
        {
            Socket conn;
            try
            {
                conn = await listener.AcceptAsync(stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                log($"accept: {e.Message}");
                await Task.Delay(50).ConfigureAwait(false);
                continue;
            }
            _ = Task.Run(() => ServeAsync(conn, local));
        }
    }

    private async Task ServeAsync(Socket socket, bool local)
    {
        var peer = local ? "unix" : (socket.RemoteEndPoint as IPEndPoint)?.Address.ToString() ?? "?";
        using var _ = socket;
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        if (Interlocked.Increment(ref connections) > MaxConnections)
        {
            Interlocked.Decrement(ref connections);
            await WriteAsync(stream, Error(503, "too many connections", "busy"), keepAlive: false).ConfigureAwait(false);
            return;
        }
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 8192));
        try
        {
            while (!stop.IsCancellationRequested)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                idle.CancelAfter(IdleTimeout);
                HttpRequest? request;
                try
                {
                    request = await ReadRequestAsync(reader, idle.Token).ConfigureAwait(false);
                }
                catch (HttpParseException e)
                {
                    await WriteAsync(stream, Error(e.Status, e.Message, "bad_request"), keepAlive: false).ConfigureAwait(false);
                    return;
                }
                catch (OperationCanceledException)
                {
                    return; // idle or stopping
                }
                if (request is null) return; // clean close
                request.Peer = peer;
                request.Local = local;
                HttpResponse response;
                try
                {
                    response = await handler(request, stop.Token).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    log($"internal error on {request.Method} {request.Path}: {e.GetType().Name}: {e.Message}");
                    response = Error(500, "internal error", "internal");
                }
                if (response.Streamer is not null)
                {
                    await StreamAsync(stream, reader, response).ConfigureAwait(false);
                    return;
                }
                var keep = request.KeepAlive;
                await WriteAsync(stream, response, keep).ConfigureAwait(false);
                if (!keep) return;
            }
        }
        catch (IOException)
        {
            // peer went away
        }
        catch (SocketException)
        {
        }
        finally
        {
            Interlocked.Decrement(ref connections);
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Reads one request with its body; null when the peer closed between requests.</summary>
    private async Task<HttpRequest?> ReadRequestAsync(PipeReader reader, CancellationToken ct)
    {
        HttpRequest? request;
        while (true)
        {
            var result = await reader.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            bool done;
            long consumed;
            try
            {
                done = HttpParser.TryParseHead(buffer, limits, out request, out consumed);
            }
            catch
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                throw;
            }
            if (done)
            {
                reader.AdvanceTo(buffer.GetPosition(consumed));
                break;
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                if (buffer.Length == 0) return null;
                throw new HttpParseException(400, "incomplete request");
            }
        }
        var length = HttpParser.ContentLength(request!, limits);
        if (length > 0)
        {
            while (true)
            {
                var result = await reader.ReadAsync(ct).ConfigureAwait(false);
                if (result.Buffer.Length >= length)
                {
                    var body = result.Buffer.Slice(0, length);
                    request!.Body = System.Buffers.BuffersExtensions.ToArray(body);
                    reader.AdvanceTo(body.End);
                    break;
                }
                reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                if (result.IsCompleted) throw new HttpParseException(400, "body shorter than Content-Length");
            }
        }
        return request;
    }

    /// <summary>
    /// Sends a streamed answer: the head, then chunks as the streamer writes them, then the last chunk. Meanwhile
    /// the connection is read: end of stream from the client (it went away) cancels the streamer. A streamer that
    /// fails leaves the body without its last chunk, so the client sees a broken answer, not a short one.
    /// </summary>
    private async Task StreamAsync(Stream stream, PipeReader reader, HttpResponse r)
    {
        var head = $"HTTP/1.1 {r.Status} {Reason(r.Status)}\r\nContent-Type: {r.ContentType}\r\nTransfer-Encoding: chunked\r\n" +
                   "Connection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n";
        try
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head), stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            // The client is gone already: run the streamer cancelled, so it releases what it holds (an exec's process).
            using var gone = new CancellationTokenSource();
            await gone.CancelAsync().ConfigureAwait(false);
            try { await r.Streamer!(Stream.Null, gone.Token).ConfigureAwait(false); } catch (Exception) { }
            return;
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        var watch = WatchClosedAsync(reader, cts);
        var body = new ChunkedBodyStream(stream);
        try
        {
            await r.Streamer!(body, cts.Token).ConfigureAwait(false);
            await body.CompleteAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // client gone or server stopping
        }
        catch (Exception e) when (e is not IOException and not SocketException)
        {
            log($"streamed answer failed: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            await cts.CancelAsync().ConfigureAwait(false);
            await watch.ConfigureAwait(false);
        }
    }

    private static async Task WatchClosedAsync(PipeReader reader, CancellationTokenSource cts)
    {
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(cts.Token).ConfigureAwait(false);
                reader.AdvanceTo(result.Buffer.End); // anything sent after the request is ignored: the connection closes
                if (result.IsCompleted) break;
            }
        }
        catch (Exception)
        {
            // cancelled (the answer is complete) or the connection failed
        }
        try { await cts.CancelAsync().ConfigureAwait(false); } catch (ObjectDisposedException) { }
    }

    private static async Task WriteAsync(Stream stream, HttpResponse r, bool keepAlive)
    {
        var head = $"HTTP/1.1 {r.Status} {Reason(r.Status)}\r\nContent-Type: {r.ContentType}\r\nContent-Length: {r.Body.Length}\r\n" +
                   $"Connection: {(keepAlive ? "keep-alive" : "close")}\r\nCache-Control: no-store\r\n\r\n";
        var bytes = new byte[Encoding.ASCII.GetByteCount(head) + r.Body.Length];
        var n = Encoding.ASCII.GetBytes(head, bytes);
        r.Body.CopyTo(bytes, n);
        await stream.WriteAsync(bytes).ConfigureAwait(false);
    }

    /// <summary>A JSON error answer.</summary>
    public static HttpResponse Error(int status, string message, string code)
        => new(status, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new Tinyo.Api.ErrorBody(message, code), Tinyo.Api.ApiJson.Default.ErrorBody));

    /// <summary>The standard reason phrase.</summary>
    public static string Reason(int status) => status switch
    {
        200 => "OK", 201 => "Created", 204 => "No Content", 400 => "Bad Request", 401 => "Unauthorized", 403 => "Forbidden",
        404 => "Not Found", 405 => "Method Not Allowed", 409 => "Conflict", 411 => "Length Required", 413 => "Content Too Large",
        422 => "Unprocessable Content", 429 => "Too Many Requests", 431 => "Request Header Fields Too Large",
        500 => "Internal Server Error", 501 => "Not Implemented", 503 => "Service Unavailable", 505 => "HTTP Version Not Supported",
        _ => "Status",
    };

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        foreach (var l in listeners) l.Dispose();
        try
        {
            await Task.WhenAll(loops).ConfigureAwait(false);
        }
        catch (Exception)
        {
        }
        stop.Dispose();
    }
}
