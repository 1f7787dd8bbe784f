using System.Buffers;
using System.IO.Pipelines;
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
/// oversized frame is answered with a clear error and the connection is closed.
/// </summary>
public sealed class KvServer : IAsyncDisposable
{
    /// <summary>Requests of one connection handled at once; more wait in the socket (back-pressure).</summary>
    public const int MaxInFlight = 256;

    private readonly KvNode node;
    private readonly RequestHandler handler;
    private readonly byte[] token;
    private readonly Socket listener;
    private readonly CancellationTokenSource stop = new();
    private readonly List<Task> connections = [];
    private Task acceptLoop = Task.CompletedTask;

    /// <summary>Creates the server for a member.</summary>
    public KvServer(KvNode node)
    {
        this.node = node;
        handler = new RequestHandler(node);
        token = Encoding.UTF8.GetBytes(node.Options.Token);
        listener = new Socket(node.Options.ClientAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
    }

    /// <summary>Binds and starts accepting.</summary>
    public void Start()
    {
        // SO_REUSEADDR only (restart despite TIME_WAIT). .NET\'s ReuseAddress also sets SO_REUSEPORT on Linux,
        // which would let a second member bind the same port.
        listener.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
        try
        {
            listener.Bind(node.Options.ClientAddress);
        }
        catch (SocketException e)
        {
            throw new KvException($"cannot listen on {Endpoints.Format(node.Options.ClientAddress)}: {e.Message}");
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

    private async Task ServeAsync(Socket socket)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 1 << 16, minimumReadSize: 1 << 14));
        var writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 1 << 16));
        var writeLock = new SemaphoreSlim(1, 1);
        var inFlight = new SemaphoreSlim(MaxInFlight, MaxInFlight);
        using var connectionClosed = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        var session = new Session();
        var maxFrame = node.Options.MaxRequestBytes + 64; // body limit plus room for the request's own fields

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
                foreach (var w in session.Watches.Values) node.Watches.Cancel(w);
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
            watcher = node.Watches.Watch(req.Key, req.RangeEnd, req.StartRevision, req.PrevKv);
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
            node.Watches.Cancel(watcher);
        }
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
            if (w is not null) node.Watches.Cancel(w);
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
