using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Client;

/// <summary>
/// One authenticated TCP connection to a tinyokv member. Requests are pipelined: <see cref="SendAsync"/>
/// writes a frame and returns a task that the reader loop completes when the answer with the same id arrives.
/// When the connection breaks, every pending request fails with <see cref="KvConnectionException"/>.
/// </summary>
public sealed class KvConnection : IAsyncDisposable
{
    private readonly Socket socket;
    private readonly PipeReader reader;
    private readonly PipeWriter writer;
    private readonly SemaphoreSlim writeLock = new(1, 1);
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<byte[]>> pending = new();
    private readonly ConcurrentDictionary<uint, System.Threading.Channels.Channel<byte[]>> streams = new();
    private readonly Task readLoop;
    private readonly long maxResponse;
    private uint nextId;
    private int disposed;
    private volatile Exception? failure;
    private volatile KvServerException? serverError;

    private KvConnection(Socket socket, Stream stream, EndPoint remote, long maxResponse)
    {
        this.socket = socket;
        this.maxResponse = maxResponse;
        Remote = remote;
        reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 1 << 16, minimumReadSize: 1 << 14));
        writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 1 << 16));
        readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>The member's client address.</summary>
    public EndPoint Remote { get; }

    /// <summary>True until the connection broke or was closed.</summary>
    public bool IsOpen => failure is null;

    /// <summary>
    /// Connects (with a TLS handshake when <paramref name="tls"/> is given) and presents the cluster token and the
    /// client's session id. A TLS failure that retrying cannot fix (an untrusted certificate, a member that does
    /// not speak TLS) throws <see cref="KvTlsException"/>.
    /// </summary>
    public static async Task<KvConnection> OpenAsync(EndPoint endPoint, string token, ulong clientId, TimeSpan timeout,
        long maxResponse = 1L << 31, KvClientTls? tls = null, CancellationToken ct = default)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(endPoint, cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            throw new KvConnectionException($"cannot connect to {endPoint}: {(e is SocketException se ? se.Message : "timed out")}");
        }
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        if (tls is not null) stream = await tls.SecureAsync(stream, endPoint, cts.Token, ct).ConfigureAwait(false);
        var conn = new KvConnection(socket, stream, endPoint, maxResponse);
        try
        {
            var hello = new ArrayBufferWriter<byte>();
            var w = new WireWriter(hello);
            w.String(token);
            w.U64(clientId);
            var reply = await conn.SendAsync(Op.Hello, hello.WrittenMemory, cts.Token).ConfigureAwait(false);
            Reply.Open(reply);
            return conn;
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Writes one frame; requests from many callers are pipelined over the connection under one lock.</summary>
    private async Task WriteFrameAsync(Op op, uint id, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        await writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            Frame.Write(writer, op, id, body.Span);
            var flush = await writer.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            if (flush.IsCompleted) throw new KvConnectionException($"connection to {Remote} closed");
        }
        finally
        {
            writeLock.Release();
        }
    }

    /// <summary>Sends a request and waits for its answer (a reply: status byte, then body or message).</summary>
    public async Task<byte[]> SendAsync(Op op, ReadOnlyMemory<byte> body, CancellationToken ct = default)
    {
        if (failure is { } f) throw new KvConnectionException($"connection to {Remote} is closed: {f.Message}");
        var id = Interlocked.Increment(ref nextId);
        var tcs = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        pending[id] = tcs;
        try
        {
            await WriteFrameAsync(op, id, body, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            pending.TryRemove(id, out _);
            // The server may have refused the frame and closed: its reason arrives on the read side.
            await Task.WhenAny(readLoop, Task.Delay(1000, CancellationToken.None)).ConfigureAwait(false);
            if (serverError is { } refused) throw refused;
            Fail(e);
            throw new KvConnectionException($"connection to {Remote} failed: {e.Message}");
        }
        using (ct.UnsafeRegister(static s => ((TaskCompletionSource<byte[]>)s!).TrySetCanceled(), tcs))
        {
            try
            {
                return await tcs.Task.ConfigureAwait(false);
            }
            finally
            {
                pending.TryRemove(id, out _);
            }
        }
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                while (Frame.TryRead(ref buffer, maxResponse, out _, out var id, out var body))
                {
                    if (id == 0 && body.Length > 0 && body.FirstSpan[0] != 0)
                    {
                        // A connection-level error (oversized or malformed frame): the server closes next.
                        var r = new WireReader(body.ToArray());
                        var code = (ErrorCode)r.Byte();
                        serverError = new KvServerException(code, r.String());
                    }
                    else if (pending.TryGetValue(id, out var tcs))
                    {
                        tcs.TrySetResult(body.ToArray());
                    }
                    else if (streams.TryGetValue(id, out var stream))
                    {
                        stream.Writer.TryWrite(body.ToArray());
                    }
                }
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) throw new KvConnectionException($"{Remote} closed the connection");
            }
        }
        catch (Exception e)
        {
            Fail(e);
        }
    }

    /// <summary>
    /// Sends a request answered by a stream of frames (a watch): returns the request id and the frames as they
    /// arrive. The reader completes with <see cref="KvConnectionException"/> when the connection breaks.
    /// </summary>
    public async Task<(uint Id, System.Threading.Channels.ChannelReader<byte[]> Frames)> OpenStreamAsync(Op op, ReadOnlyMemory<byte> body, CancellationToken ct = default)
    {
        if (failure is { } f) throw new KvConnectionException($"connection to {Remote} is closed: {f.Message}");
        var id = Interlocked.Increment(ref nextId);
        var channel = System.Threading.Channels.Channel.CreateUnbounded<byte[]>(new() { SingleReader = true, SingleWriter = true });
        streams[id] = channel;
        try
        {
            await WriteFrameAsync(op, id, body, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
        {
            streams.TryRemove(id, out _);
            Fail(e);
            throw new KvConnectionException($"connection to {Remote} failed: {e.Message}");
        }
        return (id, channel.Reader);
    }

    /// <summary>Stops delivering a stream's frames locally.</summary>
    public void CloseStream(uint id)
    {
        if (streams.TryRemove(id, out var c)) c.Writer.TryComplete();
    }

    private void Fail(Exception e)
    {
        failure ??= e;
        foreach (var s in streams)
        {
            if (streams.TryRemove(s.Key, out var c))
                c.Writer.TryComplete(new KvConnectionException($"connection to {Remote} lost: {e.Message}"));
        }
        foreach (var p in pending)
        {
            if (pending.TryRemove(p.Key, out var tcs))
                tcs.TrySetException(serverError ?? (Exception)new KvConnectionException($"connection to {Remote} lost: {e.Message}"));
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        Fail(new ObjectDisposedException(nameof(KvConnection)));
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        socket.Dispose();
        await readLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        try
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            await writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // the socket is gone; nothing left to flush
        }
    }
}

/// <summary>TLS cannot be set up with a member (untrusted certificate, wrong name, no TLS there): fix the settings.</summary>
public sealed class KvTlsException(string message) : KvException(message);

/// <summary>The connection to a member failed: the request may or may not have been applied; retry it.</summary>
public sealed class KvConnectionException(string message) : KvException(message);
