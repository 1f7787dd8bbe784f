using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
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
/// strict limits, TLS on TCP listeners given a certificate. A malformed request gets a 4xx/5xx with a JSON error and
/// the connection closes; a handler's exception becomes a 500 — never a crash. ASP.NET is not used: it would add
/// megabytes to the binary.
/// <para>
/// Connections are counted per listener, and on TCP also per source address, so idle or slow clients of the TCP
/// port cannot take the unix socket's place, nor one address everybody's. A request's head must arrive within
/// <see cref="HeaderTimeout"/> (a connection that sends nothing, or a byte at a time, is closed). Root on the unix
/// socket (its peer credentials, SO_PEERCRED) is never refused.
/// </para>
/// </summary>
public sealed class HttpServer : IAsyncDisposable
{
    private readonly Func<HttpRequest, CancellationToken, Task<HttpResponse>> handler;
    private readonly HttpLimits limits;
    private readonly List<Listener> listeners = [];
    private readonly CancellationTokenSource stop = new();
    private readonly List<Task> loops = [];
    private readonly Action<string> log;

    /// <summary>One listening socket and the connections it has open.</summary>
    private sealed class Listener(Socket socket, bool local, X509Certificate2? certificate, X509Certificate2? clusterCa = null)
    {
        public Socket Socket { get; } = socket;
        public bool Local { get; } = local;
        public X509Certificate2? Certificate { get; } = certificate;
        public X509Certificate2? ClusterCa { get; } = clusterCa;
        public int Count;
        public readonly Dictionary<IPAddress, int> PerAddress = [];
    }

    /// <summary>Creates the server; call <see cref="ListenUnix"/> and/or <see cref="ListenTcp"/>.</summary>
    public HttpServer(Func<HttpRequest, CancellationToken, Task<HttpResponse>> handler, HttpLimits? limits = null, Action<string>? log = null)
    {
        this.handler = handler;
        this.limits = limits ?? new HttpLimits();
        this.log = log ?? (_ => { });
    }

    /// <summary>Idle time allowed between requests on a kept-alive connection, and for a request's body.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Time allowed for a request's head: from the connection (TLS handshake included) for the first request, from
    /// its first byte for the next ones. Slow or silent clients are closed after it (slowloris).
    /// </summary>
    public TimeSpan HeaderTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Connections open now, on all listeners.</summary>
    public int OpenConnections
    {
        get
        {
            var n = 0;
            foreach (var l in listeners)
                lock (l) n += l.Count;
            return n;
        }
    }

    /// <summary>Most concurrent connections on each TCP listener; more are refused (503 on plain TCP, closed on TLS).</summary>
    public int MaxConnections { get; init; } = 256;

    /// <summary>Most concurrent connections from one address on each TCP listener.</summary>
    public int MaxConnectionsPerAddress { get; init; } = 32;

    /// <summary>Most concurrent connections of non-root peers on the unix socket; root is never refused.</summary>
    public int MaxUnixConnections { get; init; } = 64;

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
        Start(new Listener(s, local: true, null));
    }

    /// <summary>
    /// Listens on TCP (remote clients; bearer tokens required for everything but version and login), over TLS when
    /// a <paramref name="certificate"/> (with its private key) is given, else plain. With a <paramref name="clusterCa"/>
    /// the handshake also asks for a client certificate (optional: tio and curl have none); one the cluster CA signed
    /// names the calling node in <see cref="HttpRequest.ClusterPeer"/> (another node forwarding a request).
    /// </summary>
    public IPEndPoint ListenTcp(IPEndPoint ep, X509Certificate2? certificate = null, X509Certificate2? clusterCa = null)
    {
        if (certificate is { HasPrivateKey: false }) throw new NodeException("the API's TLS certificate has no private key");
        var s = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        s.Bind(ep);
        s.Listen(128);
        Start(new Listener(s, local: false, certificate, certificate is null ? null : clusterCa));
        return (IPEndPoint)s.LocalEndPoint!;
    }

    private void Start(Listener l)
    {
        listeners.Add(l);
        loops.Add(Task.Run(() => AcceptLoop(l)));
    }

    private async Task AcceptLoop(Listener listener)
    {
        while (!stop.IsCancellationRequested)
        {
            Socket conn;
            try
            {
                conn = await listener.Socket.AcceptAsync(stop.Token).ConfigureAwait(false);
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
            _ = Task.Run(() => ServeAsync(conn, listener));
        }
    }

    /// <summary>The node a client certificate names (its CN), when the cluster CA signed it and it is valid now; else null.</summary>
    private static string? ClusterPeerOf(X509Certificate? remote, X509Certificate2 ca)
    {
        if (remote is null) return null;
        using var cert = X509CertificateLoader.LoadCertificate(remote.GetRawCertData());
        if (Tinyo.Api.Cluster.ClusterCa.Verify(cert, ca) is not null) return null;
        var name = cert.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        return string.IsNullOrEmpty(name) ? null : name;
    }

    /// <summary>The uid of the process at the other end of a unix socket (SO_PEERCRED), or -1.</summary>
    private static long PeerUid(Socket socket)
    {
        Span<byte> cred = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        try
        {
            return socket.GetRawSocketOption(1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, cred) == 12
                ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(cred[4..]) // the kernel's byte order; Linux hosts here are little-endian
                : -1;
        }
        catch (SocketException)
        {
            return -1;
        }
    }

    /// <summary>Counts a new connection in; false when its listener (or its address) has no room left.</summary>
    private bool Admit(Listener l, IPAddress? address, long uid)
    {
        lock (l)
        {
            if (l.Local)
            {
                if (uid != 0 && l.Count >= MaxUnixConnections) return false;
            }
            else
            {
                if (l.Count >= MaxConnections) return false;
                if (address is not null)
                {
                    var n = l.PerAddress.GetValueOrDefault(address);
                    if (n >= MaxConnectionsPerAddress) return false;
                    l.PerAddress[address] = n + 1;
                }
            }
            l.Count++;
            return true;
        }
    }

    private static void Release(Listener l, IPAddress? address)
    {
        lock (l)
        {
            l.Count--;
            if (address is not null && l.PerAddress.TryGetValue(address, out var n))
            {
                if (n <= 1) l.PerAddress.Remove(address);
                else l.PerAddress[address] = n - 1;
            }
        }
    }

    private async Task ServeAsync(Socket socket, Listener listener)
    {
        using var _ = socket;
        IPAddress? address = null;
        long uid = -1;
        string peer;
        if (listener.Local)
        {
            uid = PeerUid(socket);
            peer = "unix:" + (uid < 0 ? "?" : uid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        else
        {
            address = (socket.RemoteEndPoint as IPEndPoint)?.Address;
            if (address is { IsIPv4MappedToIPv6: true }) address = address.MapToIPv4();
            peer = address?.ToString() ?? "?";
        }
        if (!Admit(listener, address, uid))
        {
            // Plain HTTP can say why; a TLS client would need a handshake first, which is what is being rationed.
            if (listener.Certificate is null)
            {
                try
                {
                    await using var plain = new NetworkStream(socket, ownsSocket: false);
                    await WriteAsync(plain, Error(503, "too many connections", "busy"), keepAlive: false).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or SocketException)
                {
                }
            }
            return;
        }
        Stream? stream = null;
        PipeReader? reader = null;
        string? clusterPeer = null;
        try
        {
            // The first request's head, TLS handshake included, must arrive within the header timeout.
            using var first = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
            first.CancelAfter(HeaderTimeout);
            stream = new NetworkStream(socket, ownsSocket: false);
            if (listener.Certificate is { } cert)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = tls;
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = cert,
                    // Asked for only with a cluster CA, and never required: the check is ClusterPeerOf's, after the handshake.
                    ClientCertificateRequired = listener.ClusterCa is not null,
                    RemoteCertificateValidationCallback = listener.ClusterCa is null ? null : (_, _, _, _) => true,
                    EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
                }, first.Token).ConfigureAwait(false);
                if (listener.ClusterCa is { } ca) clusterPeer = ClusterPeerOf(tls.RemoteCertificate, ca);
            }
            reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 8192));
            var isFirst = true;
            while (!stop.IsCancellationRequested)
            {
                using var deadline = isFirst ? null : CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                deadline?.CancelAfter(IdleTimeout);
                var timer = deadline ?? first;
                isFirst = false;
                HttpRequest? request;
                try
                {
                    request = await ReadRequestAsync(reader, timer).ConfigureAwait(false);
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
                request.PeerUid = uid;
                request.Local = listener.Local;
                request.ClusterPeer = clusterPeer;
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
        catch (System.Security.Authentication.AuthenticationException)
        {
            // not a TLS client (plain HTTP to the TLS port), or no protocol in common
        }
        catch (OperationCanceledException)
        {
            // the TLS handshake took longer than the header timeout, or stopping
        }
        finally
        {
            Release(listener, address);
            if (reader is not null) await reader.CompleteAsync().ConfigureAwait(false);
            if (stream is not null) await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads one request with its body; null when the peer closed between requests. <paramref name="timer"/> runs
    /// out after the idle time (or the header timeout for a connection's first request); once the head's first
    /// bytes are in it is set to the header timeout, and once the head is parsed to the idle time for the body.
    /// </summary>
    private async Task<HttpRequest?> ReadRequestAsync(PipeReader reader, CancellationTokenSource timer)
    {
        var ct = timer.Token;
        HttpRequest? request;
        var started = false;
        while (true)
        {
            var result = await reader.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (!started && buffer.Length > 0)
            {
                started = true;
                timer.CancelAfter(HeaderTimeout);
            }
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
            timer.CancelAfter(IdleTimeout);
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
    /// <remarks>The message often quotes the request (a name, a path): control characters are escaped, so a client that
    /// prints it to a terminal prints what was sent, not what it would make the terminal do.</remarks>
    public static HttpResponse Error(int status, string message, string code)
        => new(status, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new Tinyo.Api.ErrorBody(Tinyo.Api.Statefile.Printable.Escape(message), code), Tinyo.Api.ApiJson.Default.ErrorBody));

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
        foreach (var l in listeners) l.Socket.Dispose();
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
