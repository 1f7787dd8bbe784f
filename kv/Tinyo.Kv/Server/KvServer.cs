using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Tinyo.Kv.Raft;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Server;

/// <summary>
/// Accepts client connections on the member's client address. Each connection must open with
/// <see cref="Op.Hello"/> carrying the cluster token; after that, requests are handled concurrently (pipelined)
/// and answered as they finish, at most <see cref="MaxInFlight"/> at a time per connection. A malformed or
/// oversized frame is answered with a clear error and the connection is closed. With TLS configured
/// (<see cref="NodeOptions.ClientTls"/>) every connection must open with a TLS handshake: a plain-text client
/// gets a plain-text error frame saying so, a client without an acceptable certificate (client-cert-auth) gets
/// an error frame over TLS naming the problem, and both are closed before any request is read.
/// </summary>
public sealed class KvServer : IAsyncDisposable
{
    /// <summary>Requests of one connection handled at once; more wait in the socket (back-pressure).</summary>
    public const int MaxInFlight = 256;

    private readonly IRequestHandler handler;
    private readonly Func<Watch.WatchHub> watches;
    private readonly Func<Mvcc.StoreSnapshot>? snapshots; // null on a learner: it redirects snapshots to a member
    private readonly System.Net.IPEndPoint address;
    private readonly long maxRequestBytes;
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(5);
    private readonly byte[] token;
    private readonly KvServerTls? tls;
    private readonly Socket listener;
    private readonly CancellationTokenSource stop = new();
    private readonly List<Task> connections = [];
    private Task acceptLoop = Task.CompletedTask;

    /// <summary>Creates the server for a member.</summary>
    public KvServer(KvNode node)
        : this(new RequestHandler(node), () => node.Watches, node.Options.ClientAddress, node.Options.Token, node.Options.ClientTls, node.Options.MaxRequestBytes)
    {
        snapshots = node.Store.Capture;
    }

    /// <summary>Creates the server for a learner (a non-voting copy of the cluster: see <see cref="Learner.LearnerNode"/>).</summary>
    public KvServer(Learner.LearnerNode learner)
        : this(new Learner.LearnerRequestHandler(learner), () => learner.Watches, learner.Options.ClientAddress, learner.Options.Token,
            learner.Options.ClientTls, learner.Options.MaxRequestBytes)
    {
    }

    private KvServer(IRequestHandler handler, Func<Watch.WatchHub> watches, System.Net.IPEndPoint address, string token, KvServerTls? tls, long maxRequestBytes)
    {
        this.handler = handler;
        this.watches = watches;
        this.address = address;
        this.maxRequestBytes = maxRequestBytes;
        this.token = Encoding.UTF8.GetBytes(token);
        this.tls = tls;
        listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
    }

    /// <summary>Binds and starts accepting.</summary>
    public void Start()
    {
        // SO_REUSEADDR only (restart despite TIME_WAIT). .NET\'s ReuseAddress also sets SO_REUSEPORT on Linux,
        // which would let a second member bind the same port.
        listener.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
        try
        {
            listener.Bind(address);
        }
        catch (SocketException e)
        {
            throw new KvException($"cannot listen on {Endpoints.Format(address)}: {e.Message}");
        }
        listener.Listen(512);
        acceptLoop = Task.Run(AcceptAsync);
    }

    private async Task AcceptAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            Socket s;
            try
            {
                s = await listener.AcceptAsync(stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }
            s.NoDelay = true;
            var t = Task.Run(() => ServeAsync(s));
            lock (connections)
            {
                connections.RemoveAll(static c => c.IsCompleted);
                connections.Add(t);
            }
        }
    }

    /// <summary>
    /// The TLS handshake of a new connection: the stream to serve it on, and a refusal to send over it (plain
    /// text, or a refused certificate) before closing; null when the handshake failed (nothing can be said).
    /// </summary>
    private async Task<(Stream Stream, string? Refusal)?> SecureAsync(Socket socket, NetworkStream plain, KvServerTls tls)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        cts.CancelAfter(HandshakeTimeout);
        try
        {
            // Every TLS connection starts with a handshake record (type 22); a tinyokv frame starts with the high
            // byte of a length, which is never 22 for a hello. Peek, so the handshake still sees the byte.
            var first = new byte[1];
            if (await socket.ReceiveAsync(first, SocketFlags.Peek, cts.Token).ConfigureAwait(false) == 0) return null;
            if (first[0] != 0x16)
                return (plain, "this member accepts TLS connections only: connect with TLS (tinyokv --cacert ...)");
            var ssl = new SslStream(plain, leaveInnerStreamOpen: false);
            try
            {
                await ssl.AuthenticateAsServerAsync(tls.Options(), cts.Token).ConfigureAwait(false);
            }
            catch
            {
                await ssl.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            return (ssl, tls.CheckRemote(ssl));
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
        {
            return null;
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        string? refusal = null;
        if (tls is not null)
        {
            if (await SecureAsync(socket, (NetworkStream)stream, tls).ConfigureAwait(false) is not { } secured)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                return;
            }
            (stream, refusal) = secured;
        }
        await using var ownedStream = stream;
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 1 << 16, minimumReadSize: 1 << 14));
        var writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 1 << 16));
        var writeLock = new SemaphoreSlim(1, 1);
        var inFlight = new SemaphoreSlim(MaxInFlight, MaxInFlight);
        using var connectionClosed = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        var session = new Session();
        var maxFrame = maxRequestBytes + 64; // body limit plus room for the request's own fields

        async Task SendAsync(Op op, uint id, byte[] reply)
        {
            await writeLock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                Frame.Write(writer, op, id, reply);
                await writer.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
            {
                await connectionClosed.CancelAsync().ConfigureAwait(false);
            }
            finally
            {
                writeLock.Release();
            }
        }

        // Answers a frame that ends the connection, then drains (bounded) what the peer is still sending: closing
        // with unread data would reset the connection and the peer could lose the answer.
        async Task RefuseAsync(byte[] reply)
        {
            await SendAsync(0, 0, reply).ConfigureAwait(false);
            try
            {
                if (stream is SslStream ssl) await ssl.ShutdownAsync().ConfigureAwait(false);
                socket.Shutdown(SocketShutdown.Send);
                using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                long drained = 0;
                while (drained < (256L << 20))
                {
                    var r = await reader.ReadAsync(drain.Token).ConfigureAwait(false);
                    drained += r.Buffer.Length;
                    reader.AdvanceTo(r.Buffer.End);
                    if (r.IsCompleted) break;
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException or InvalidOperationException)
            {
            }
        }

        try
        {
            if (refusal is not null)
            {
                await RefuseAsync(Reply.Error(ErrorCode.Unauthenticated, refusal)).ConfigureAwait(false);
                return;
            }
            while (!connectionClosed.IsCancellationRequested)
            {
                var result = await reader.ReadAsync(connectionClosed.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    while (Frame.TryRead(ref buffer, maxFrame, out var op, out var id, out var body))
                    {
                        var bytes = body.ToArray();
                        if (!session.Authenticated)
                        {
                            // Only Hello is answered before the token is checked, and nothing runs concurrently with it.
                            var reply = Authenticate(op, bytes, session);
                            await SendAsync(op, id, reply).ConfigureAwait(false);
                            if (!session.Authenticated) return;
                            continue;
                        }
                        if (op == Op.Watch)
                        {
                            // Long-lived: served outside the in-flight slots, streamed with the request's id.
                            _ = Task.Run(() => WatchAsync(id, bytes, session, SendAsync, connectionClosed.Token));
                            continue;
                        }
                        if (op == Op.SnapshotStream && snapshots is not null)
                        {
                            // A thread writes the capture as chunk frames (back-pressured by the socket); it holds one of
                            // the connection's in-flight slots, so a client cannot start threads without bound.
                            await inFlight.WaitAsync(connectionClosed.Token).ConfigureAwait(false);
                            _ = Task.Factory.StartNew(() =>
                            {
                                try
                                {
                                    StreamSnapshot(id, bytes, SendAsync, connectionClosed.Token);
                                }
                                finally
                                {
                                    inFlight.Release();
                                }
                            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                            continue;
                        }
                        if (op == Op.WatchCancel)
                        {
                            await SendAsync(op, id, CancelWatch(bytes, session)).ConfigureAwait(false);
                            continue;
                        }
                        await inFlight.WaitAsync(connectionClosed.Token).ConfigureAwait(false);
                        _ = Task.Run(async () =>
                        {
                            try
                            {
                                var reply = await handler.HandleAsync(op, bytes, session.ClientId, connectionClosed.Token).ConfigureAwait(false);
                                await SendAsync(op, id, reply).ConfigureAwait(false);
                            }
                            finally
                            {
                                inFlight.Release();
                            }
                        });
                    }
                }
                catch (FrameTooLargeException e)
                {
                    reader.AdvanceTo(result.Buffer.End);
                    await RefuseAsync(Reply.Error(ErrorCode.TooLarge, e.Message)).ConfigureAwait(false);
                    return;
                }
                catch (ProtocolException e)
                {
                    reader.AdvanceTo(result.Buffer.End);
                    await RefuseAsync(Reply.Error(ErrorCode.BadRequest, e.Message)).ConfigureAwait(false);
                    return;
                }
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) return;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException)
        {
        }
        finally
        {
            await connectionClosed.CancelAsync().ConfigureAwait(false);
            lock (session.Watches)
            {
                foreach (var w in session.Watches.Values) watches().Cancel(w);
                session.Watches.Clear();
            }
            // Let running handlers finish their writes before the pipe goes away.
            for (var i = 0; i < MaxInFlight; i++) await inFlight.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            await reader.CompleteAsync().ConfigureAwait(false);
            await writer.CompleteAsync().ConfigureAwait(false);
        }
    }

    private byte[] Authenticate(Op op, byte[] body, Session session)
    {
        if (op != Op.Hello) return Reply.Error(ErrorCode.Unauthenticated, "unauthenticated: the first request must present the cluster token");
        try
        {
            var r = new WireReader(body);
            var presented = r.BytesSpan();
            var clientId = r.U64();
            r.End();
            if (!CryptographicOperations.FixedTimeEquals(presented, token))
                return Reply.Error(ErrorCode.Unauthenticated, "unauthenticated: wrong cluster token");
            session.ClientId = clientId;
            session.Authenticated = true;
            return Reply.Ok(static (ref w) => { });
        }
        catch (ProtocolException e)
        {
            return Reply.Error(ErrorCode.BadRequest, "bad hello: " + e.Message);
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        listener.Dispose();
        await acceptLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Task[] all;
        lock (connections) all = [.. connections];
        await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        stop.Dispose();
    }

    private async Task WatchAsync(uint id, byte[] body, Session session, Func<Op, uint, byte[], Task> send, CancellationToken token)
    {
        Watch.Watcher watcher;
        try
        {
            var r = new WireReader(body);
            var req = WatchRequest.Decode(ref r);
            r.End();
            watcher = watches().Watch(req.Key, req.RangeEnd, req.StartRevision, req.PrevKv);
        }
        catch (KvException e)
        {
            await send(Op.Watch, id, Reply.Error(e is KvServerException se ? se.Code : ErrorCode.BadRequest, e.Message)).ConfigureAwait(false);
            return;
        }
        lock (session.Watches) session.Watches[id] = watcher;
        try
        {
            var created = new WatchFrame(WatchFrameKind.Created, watcher.StartRevision, []);
            await send(Op.Watch, id, Reply.Ok((ref w) => created.Encode(ref w))).ConfigureAwait(false);
            var reader = watcher.Channel.Reader;
            while (await reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                while (reader.TryRead(out var batch))
                {
                    var frame = new WatchFrame(WatchFrameKind.Events, batch.Revision, batch.Events);
                    await send(Op.Watch, id, Reply.Ok((ref w) => frame.Encode(ref w))).ConfigureAwait(false);
                }
            }
            var canceled = new WatchFrame(WatchFrameKind.Canceled, watcher.NextRevision, []);
            await send(Op.Watch, id, Reply.Ok((ref w) => canceled.Encode(ref w))).ConfigureAwait(false);
        }
        catch (KvServerException e)
        {
            await send(Op.Watch, id, Reply.Error(e.Code, e.Message)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            lock (session.Watches) session.Watches.Remove(id);
            watches().Cancel(watcher);
        }
    }

    /// <summary>
    /// Answers <see cref="Op.SnapshotStream"/>: captures the store (O(1): its trees are immutable) and writes the
    /// snapshot file's bytes as frames of at most <see cref="Frame.SnapshotChunkBytes"/>, then an empty one. Runs on
    /// its own thread and blocks on each send, so a slow reader slows the writer instead of filling memory.
    /// </summary>
    private void StreamSnapshot(uint id, byte[] body, Func<Op, uint, byte[], Task> send, CancellationToken token)
    {
        try
        {
            new WireReader(body).End();
            using var chunks = new ChunkStream(chunk => send(Op.SnapshotStream, id, ChunkReply(chunk.Span)).GetAwaiter().GetResult(), token);
            snapshots!().WriteTo(chunks);
            chunks.Flush();
            send(Op.SnapshotStream, id, ChunkReply([])).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            // the connection closed: nobody to answer
        }
        catch (Exception e) when (e is ProtocolException or IOException or KvException)
        {
            send(Op.SnapshotStream, id, Reply.Error(e is ProtocolException ? ErrorCode.BadRequest : ErrorCode.Internal, $"snapshot: {e.Message}")).GetAwaiter().GetResult();
        }
    }

    /// <summary>An ok reply carrying one chunk as length-prefixed bytes, sized once.</summary>
    private static byte[] ChunkReply(ReadOnlySpan<byte> chunk)
    {
        var buf = new ArrayBufferWriter<byte>(chunk.Length + 16);
        var w = new WireWriter(buf);
        w.Byte(0);
        w.Bytes(chunk);
        return buf.WrittenSpan.ToArray();
    }

    /// <summary>A write-only stream that hands its bytes on in chunks of <see cref="Frame.SnapshotChunkBytes"/>.</summary>
    private sealed class ChunkStream(Action<ReadOnlyMemory<byte>> sendChunk, CancellationToken token) : Stream
    {
        private readonly byte[] buffer = new byte[Frame.SnapshotChunkBytes];
        private int used;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] data, int offset, int count) => Write(data.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> data)
        {
            while (!data.IsEmpty)
            {
                var n = Math.Min(data.Length, buffer.Length - used);
                data[..n].CopyTo(buffer.AsSpan(used));
                used += n;
                data = data[n..];
                if (used == buffer.Length) Flush();
            }
        }

        public override void Flush()
        {
            token.ThrowIfCancellationRequested();
            if (used == 0) return;
            sendChunk(buffer.AsMemory(0, used));
            used = 0;
        }

        public override int Read(byte[] data, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private byte[] CancelWatch(byte[] body, Session session)
    {
        try
        {
            var r = new WireReader(body);
            var watchId = (uint)r.UVar();
            r.End();
            Watch.Watcher? w;
            lock (session.Watches) session.Watches.TryGetValue(watchId, out w);
            if (w is not null) watches().Cancel(w);
            return Reply.Ok(static (ref w) => { });
        }
        catch (ProtocolException e)
        {
            return Reply.Error(ErrorCode.BadRequest, e.Message);
        }
    }

    private sealed class Session
    {
        public bool Authenticated;
        public ulong ClientId;
        public readonly Dictionary<uint, Watch.Watcher> Watches = [];
    }
}
