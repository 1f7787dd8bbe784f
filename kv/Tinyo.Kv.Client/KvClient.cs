using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Client;

/// <summary>Settings of a <see cref="KvClient"/>.</summary>
public sealed class KvClientOptions
{
    /// <summary>Client addresses of some members; any one will do.</summary>
    public required IReadOnlyList<IPEndPoint> Endpoints { get; init; }

    /// <summary>The shared cluster token.</summary>
    public required string Token { get; init; }

    /// <summary>How long one call may take, retries included.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Connect timeout per attempt (the TLS handshake included).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>TLS settings; null for plain TCP.</summary>
    public KvClientTls? Tls { get; init; }
}

/// <summary>
/// The tinyokv client: one pipelined connection, moved to the leader when a member answers "not leader",
/// to another member when it breaks. Every write carries this client's session id and a sequence number, and
/// a retry re-sends the same number: the state machine answers a duplicate from its session cache, so a write
/// is never applied twice. Thread-safe; share one instance.
/// </summary>
public sealed class KvClient : IAsyncDisposable
{
    private readonly KvClientOptions options;
    private readonly SemaphoreSlim connectLock = new(1, 1);
    private readonly SortedSet<ulong> outstanding = [];
    private KvConnection? connection;
    private EndPoint? preferred;
    private int nextEndpoint;
    private ulong nextSeq;

    /// <summary>Creates a client; it connects on first use.</summary>
    public KvClient(KvClientOptions options)
    {
        if (options.Endpoints.Count == 0) throw new KvException("no endpoints given");
        this.options = options;
        ClientId = (ulong)Random.Shared.NextInt64() << 1 | 1; // never 0: 0 means "no session"
    }

    /// <summary>This client's session id.</summary>
    public ulong ClientId { get; }

    /// <summary>Sets a key.</summary>
    public async Task<PutResponse> PutAsync(PutRequest req, CancellationToken ct = default)
    {
        var reply = await CallAsync(Op.Put, (ref w) => req.Encode(ref w), write: true, ct).ConfigureAwait(false);
        var r = Reply.Open(reply);
        return PutResponse.Decode(ref r);
    }

    /// <summary>Sets a key.</summary>
    public Task<PutResponse> PutAsync(byte[] key, byte[] value, long lease = 0, CancellationToken ct = default)
        => PutAsync(new PutRequest(key, value, lease), ct);

    /// <summary>Reads a range (linearizable unless <see cref="RangeRequest.Serializable"/>).</summary>
    public async Task<RangeResponse> RangeAsync(RangeRequest req, CancellationToken ct = default)
    {
        var reply = await CallAsync(Op.Range, (ref w) => req.Encode(ref w), write: false, ct).ConfigureAwait(false);
        var r = Reply.Open(reply);
        return RangeResponse.Decode(ref r);
    }

    /// <summary>Reads one key, null when absent.</summary>
    public async Task<KeyValue?> GetAsync(byte[] key, bool serializable = false, CancellationToken ct = default)
    {
        var resp = await RangeAsync(new RangeRequest(key, Serializable: serializable), ct).ConfigureAwait(false);
        return resp.Kvs.Count > 0 ? resp.Kvs[0] : null;
    }

    /// <summary>Deletes a key or range.</summary>
    public async Task<DeleteRangeResponse> DeleteAsync(DeleteRangeRequest req, CancellationToken ct = default)
    {
        var reply = await CallAsync(Op.DeleteRange, (ref w) => req.Encode(ref w), write: true, ct).ConfigureAwait(false);
        var r = Reply.Open(reply);
        return DeleteRangeResponse.Decode(ref r);
    }

    /// <summary>Runs a transaction.</summary>
    public async Task<TxnResponse> TxnAsync(TxnRequest req, CancellationToken ct = default)
    {
        var reply = await CallAsync(Op.Txn, (ref w) => req.Encode(ref w), write: true, ct).ConfigureAwait(false);
        var r = Reply.Open(reply);
        return TxnResponse.Decode(ref r);
    }

    /// <summary>Grants a lease; id 0 lets the server pick one. Returns (id, ttl).</summary>
    public async Task<(long Id, long Ttl)> LeaseGrantAsync(long ttlSeconds, long id = 0, CancellationToken ct = default)
    {
        var reply = await CallAsync(Op.LeaseGrant, (ref w) => { w.Var(id); w.Var(ttlSeconds); }, write: true, ct).ConfigureAwait(false);
        var r = Reply.Open(reply);
        r.Var();
        return (r.Var(), r.Var());
    }

    /// <summary>Revokes a lease, deleting its keys.</summary>
    public async Task<long> LeaseRevokeAsync(long id, CancellationToken ct = default)
    {
        var reply = await CallAsync(Op.LeaseRevoke, (ref w) => w.Var(id), write: true, ct).ConfigureAwait(false);
        var r = Reply.Open(reply);
        return r.Var();
    }

    /// <summary>Refreshes a lease's TTL on the leader; returns the TTL.</summary>
    public async Task<long> LeaseKeepAliveAsync(long id, CancellationToken ct = default)
    {
        var reply = await CallAsync(Op.LeaseKeepAlive, (ref w) => w.Var(id), write: false, ct, leaderOnly: true).ConfigureAwait(false);
        var r = Reply.Open(reply);
        return r.Var();
    }

    /// <summary>Lists leases (id, ttl).</summary>
    public async Task<IReadOnlyList<(long Id, long Ttl)>> LeaseListAsync(CancellationToken ct = default)
    {
        var reply = await CallAsync(Op.LeaseList, static (ref w) => { }, write: false, ct).ConfigureAwait(false);
        var r = Reply.Open(reply);
        var list = new List<(long, long)>();
        for (int i = 0, n = r.Int(); i < n; i++) list.Add((r.Var(), r.Var()));
        return list;
    }

    /// <summary>Compacts the history up to a revision.</summary>
    public async Task<long> CompactAsync(long revision, CancellationToken ct = default)
    {
        var reply = await CallAsync(Op.Compact, (ref w) => w.Var(revision), write: true, ct).ConfigureAwait(false);
        var r = Reply.Open(reply);
        return r.Var();
    }

    /// <summary>Lists the members.</summary>
    public async Task<IReadOnlyList<MemberInfo>> MemberListAsync(CancellationToken ct = default)
    {
        var reply = await CallAsync(Op.MemberList, static (ref w) => { }, write: false, ct).ConfigureAwait(false);
        var r = Reply.Open(reply);
        var list = new List<MemberInfo>();
        for (int i = 0, n = r.Int(); i < n; i++) list.Add(MemberInfo.Decode(ref r));
        if (r.Remaining > 0) list.AddRange(LearnerList.Decode(ref r));
        return list;
    }

    /// <summary>
    /// Adds a running, empty member by its peer (Raft) address. <paramref name="standby"/> must match how the member
    /// runs (<c>serve --standby</c>): the leader checks it before changing the configuration.
    /// </summary>
    public async Task MemberAddAsync(string peerAddress, bool standby = false, CancellationToken ct = default)
        => Reply.Open(await CallAsync(Op.MemberAdd, (ref w) => { w.String(peerAddress); w.Bool(standby); }, write: false, ct, leaderOnly: true).ConfigureAwait(false));

    /// <summary>Removes a member by its peer (Raft) address.</summary>
    public async Task MemberRemoveAsync(string peerAddress, CancellationToken ct = default)
        => Reply.Open(await CallAsync(Op.MemberRemove, (ref w) => w.String(peerAddress), write: false, ct, leaderOnly: true).ConfigureAwait(false));

    /// <summary>
    /// Promotes learner <paramref name="name"/> to a voting member: finds its client address in the member list and
    /// asks it directly; it answers once it has been added and has caught up (see <c>LearnerNode.PromoteAsync</c>).
    /// </summary>
    public async Task MemberPromoteAsync(string name, CancellationToken ct = default)
    {
        var learner = (await MemberListAsync(ct).ConfigureAwait(false)).FirstOrDefault(m => m.Learner && m.Name == name)
            ?? throw new KvServerException(ErrorCode.MembershipFailed, $"no running learner named {name} (member list shows the learners)");
        await using var direct = new KvClient(new KvClientOptions
        {
            Endpoints = [Protocol.Endpoints.Parse(learner.ClientAddress)],
            Token = options.Token,
            Tls = options.Tls,
            RequestTimeout = options.RequestTimeout > TimeSpan.FromSeconds(120) ? options.RequestTimeout : TimeSpan.FromSeconds(120),
            ConnectTimeout = options.ConnectTimeout,
        });
        Reply.Open(await direct.CallAsync(Op.MemberPromote, (ref w) => w.String(name), write: false, ct).ConfigureAwait(false));
    }

    /// <summary>
    /// Graceful leave of the member this client is connected to (give it as the only endpoint): it steps down if
    /// it leads, gets removed by the new leader, and stops.
    /// </summary>
    public async Task MemberLeaveAsync(CancellationToken ct = default)
    {
        if (options.Endpoints.Count != 1) throw new KvException("member leave: give the leaving member's client address as the only endpoint");
        Reply.Open(await CallAsync(Op.MemberLeave, static (ref w) => { }, write: false, ct).ConfigureAwait(false));
    }

    /// <summary>The status of the member this client is connected to.</summary>
    public async Task<StatusInfo> StatusAsync(CancellationToken ct = default)
    {
        var reply = await CallAsync(Op.Status, static (ref w) => { }, write: false, ct).ConfigureAwait(false);
        var r = Reply.Open(reply);
        return StatusInfo.Decode(ref r);
    }

    /// <summary>
    /// Streams a snapshot of the store (the snapshot file format) into <paramref name="output"/> chunk by chunk
    /// (<see cref="Op.SnapshotStream"/>), so neither side holds the whole snapshot in memory. A learner or an
    /// unreachable member is retried elsewhere until the first chunk arrives; a transfer broken after that throws
    /// (<paramref name="output"/> then holds a truncated file, which a restore refuses).
    /// </summary>
    public async Task SnapshotAsync(Stream output, CancellationToken ct = default)
    {
        string? lastError = null;
        for (var attempt = 0; ; attempt++)
        {
            if (attempt > 0)
            {
                if (attempt > 8) throw new KvServerException(ErrorCode.Unavailable, $"snapshot: no member answered ({lastError})");
                await Backoff(attempt, ct).ConfigureAwait(false);
            }
            KvConnection? conn = null;
            uint id;
            System.Threading.Channels.ChannelReader<byte[]> frames;
            try
            {
                conn = await ConnectAsync(ct).ConfigureAwait(false);
                (id, frames) = await conn.OpenStreamAsync(Op.SnapshotStream, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
            }
            catch (KvConnectionException e)
            {
                lastError = e.Message;
                await DropAsync(conn).ConfigureAwait(false);
                continue;
            }
            var started = false;
            try
            {
                while (true)
                {
                    byte[]? body;
                    try
                    {
                        if (!await frames.WaitToReadAsync(ct).ConfigureAwait(false)) throw new KvConnectionException("stream closed");
                        if (!frames.TryRead(out body)) continue;
                    }
                    catch (KvConnectionException e)
                    {
                        await DropAsync(conn).ConfigureAwait(false);
                        if (started) throw new KvServerException(ErrorCode.Unavailable, $"snapshot transfer broken: {e.Message}");
                        lastError = e.Message;
                        break;
                    }
                    if (!started && body.Length > 0 && (ErrorCode)body[0] is ErrorCode.NotLeader or ErrorCode.Unavailable)
                    {
                        // A learner (or a member without a leader) sends us to a member: try there, or the next one.
                        var msg = new WireReader(body.AsSpan(1)).String();
                        lastError = msg.Length == 0 ? "no leader" : msg;
                        if ((ErrorCode)body[0] == ErrorCode.NotLeader && msg.Length > 0) preferred = Protocol.Endpoints.Parse(msg);
                        await DropAsync(conn).ConfigureAwait(false);
                        break;
                    }
                    var r = Reply.Open(body);
                    var chunk = r.BytesSpan();
                    if (chunk.IsEmpty) return;
                    started = true;
                    output.Write(chunk);
                }
            }
            finally
            {
                conn.CloseStream(id);
            }
        }
    }

    /// <summary>
    /// Watches a key or range from <paramref name="startRevision"/> (0: from now). Yields one batch per revision.
    /// When the member goes away the watch resumes on another member from the next revision, so no event is
    /// lost or repeated; a revision no longer held anywhere ends the watch with <see cref="ErrorCode.Compacted"/>.
    /// </summary>
    public async IAsyncEnumerable<WatchFrame> WatchAsync(byte[] key, byte[]? rangeEnd = null, long startRevision = 0, bool prevKv = false,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        var next = startRevision;
        for (var attempt = 0; ; attempt++)
        {
            ct.ThrowIfCancellationRequested();
            KvConnection conn;
            uint id;
            System.Threading.Channels.ChannelReader<byte[]> frames;
            try
            {
                conn = await ConnectAsync(ct).ConfigureAwait(false);
                var buf = new ArrayBufferWriter<byte>();
                var w = new WireWriter(buf);
                new WatchRequest(key, rangeEnd, next, prevKv).Encode(ref w);
                (id, frames) = await conn.OpenStreamAsync(Op.Watch, buf.WrittenMemory, ct).ConfigureAwait(false);
            }
            catch (KvConnectionException)
            {
                await DropAsync(connection).ConfigureAwait(false);
                await Backoff(attempt, ct).ConfigureAwait(false);
                continue;
            }
            try
            {
                while (true)
                {
                    byte[]? body = null;
                    try
                    {
                        if (!await frames.WaitToReadAsync(ct).ConfigureAwait(false)) yield break;
                        frames.TryRead(out body);
                    }
                    catch (KvConnectionException)
                    {
                        await DropAsync(conn).ConfigureAwait(false);
                        break; // resume from `next` on another connection
                    }
                    if (body is null) continue;
                    var r = Reply.Open(body);
                    var frame = WatchFrame.Decode(ref r);
                    switch (frame.Kind)
                    {
                        case WatchFrameKind.Created:
                            next = frame.Revision;
                            break;
                        case WatchFrameKind.Events:
                            next = frame.Revision + 1;
                            attempt = 0;
                            yield return frame;
                            break;
                        default:
                            yield break;
                    }
                }
            }
            finally
            {
                conn.CloseStream(id);
                if (conn.IsOpen && ct.IsCancellationRequested == false)
                    _ = conn.SendAsync(Op.WatchCancel, EncodeId(id), CancellationToken.None).ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
            }
            await Backoff(attempt, ct).ConfigureAwait(false);
        }
    }

    private static byte[] EncodeId(uint id)
    {
        var buf = new ArrayBufferWriter<byte>(8);
        new WireWriter(buf).UVar(id);
        return buf.WrittenSpan.ToArray();
    }

    /// <summary>Sends a request to the member currently connected, without retries (peer-to-peer use).</summary>
    internal async Task<byte[]> SendOnceAsync(Op op, BodyEncoder body, CancellationToken ct)
    {
        var conn = await ConnectAsync(ct).ConfigureAwait(false);
        var buf = new ArrayBufferWriter<byte>();
        var w = new WireWriter(buf);
        body(ref w);
        return await conn.SendAsync(op, buf.WrittenMemory, ct).ConfigureAwait(false);
    }

    private async Task<byte[]> CallAsync(Op op, BodyEncoder body, bool write, CancellationToken ct, bool leaderOnly = false)
    {
        ulong seq = 0;
        if (write)
        {
            lock (outstanding) outstanding.Add(seq = ++nextSeq);
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.RequestTimeout);
        string? lastError = null;
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                if (timeout.IsCancellationRequested)
                {
                    ct.ThrowIfCancellationRequested();
                    throw new KvServerException(ErrorCode.Unavailable, $"request timed out after {options.RequestTimeout.TotalSeconds:0.#}s{(lastError is null ? "" : ": " + lastError)}");
                }
                var buf = new ArrayBufferWriter<byte>();
                var w = new WireWriter(buf);
                if (write)
                {
                    ulong acked;
                    lock (outstanding) acked = outstanding.Min;
                    w.UVar(seq);
                    w.UVar(acked);
                }
                body(ref w);
                KvConnection? conn = null;
                byte[] reply;
                try
                {
                    conn = await ConnectAsync(timeout.Token).ConfigureAwait(false);
                    reply = await conn.SendAsync(op, buf.WrittenMemory, timeout.Token).ConfigureAwait(false);
                }
                catch (KvConnectionException e)
                {
                    lastError = e.Message;
                    // Drop only the connection that failed: another request may already have opened a new one.
                    if (conn is not null) await DropAsync(conn).ConfigureAwait(false);
                    await Backoff(attempt, timeout.Token).ConfigureAwait(false);
                    continue;
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    continue; // the timeout: reported at the top of the loop
                }
                var status = reply.Length > 0 ? (ErrorCode)reply[0] : ErrorCode.Internal;
                if (reply.Length > 0 && reply[0] == 0) return reply;
                if (status == ErrorCode.NotLeader)
                {
                    var r = new WireReader(reply.AsSpan(1));
                    var leader = r.String();
                    lastError = leader.Length == 0 ? "no leader" : $"redirected to leader {leader}";
                    preferred = leader.Length > 0 ? Protocol.Endpoints.Parse(leader) : null;
                    await DropAsync(conn!).ConfigureAwait(false);
                    if (preferred is null) await Backoff(attempt, timeout.Token).ConfigureAwait(false);
                    continue;
                }
                if (status == ErrorCode.Unavailable)
                {
                    lastError = new WireReader(reply.AsSpan(1)).String();
                    await Backoff(attempt, timeout.Token).ConfigureAwait(false);
                    continue;
                }
                return reply;
            }
        }
        finally
        {
            if (write)
            {
                lock (outstanding) outstanding.Remove(seq);
            }
        }
    }

    private static async Task Backoff(int attempt, CancellationToken ct)
    {
        try
        {
            await Task.Delay(Math.Min(20 * (1 << Math.Min(attempt, 5)), 500), ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task<KvConnection> ConnectAsync(CancellationToken ct)
    {
        if (connection is { IsOpen: true } c) return c;
        await connectLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (connection is { IsOpen: true } c2) return c2;
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                connection = null;
            }
            EndPoint target;
            if (preferred is not null)
            {
                target = preferred;
                preferred = null;
            }
            else
            {
                target = options.Endpoints[nextEndpoint++ % options.Endpoints.Count];
            }
            connection = await KvConnection.OpenAsync(target, options.Token, ClientId, options.ConnectTimeout, tls: options.Tls, ct: ct).ConfigureAwait(false);
            return connection;
        }
        finally
        {
            connectLock.Release();
        }
    }

    private async Task DropAsync(KvConnection? which)
    {
        if (which is null) return;
        await connectLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (connection is not null && ReferenceEquals(which, connection))
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                connection = null;
            }
        }
        finally
        {
            connectLock.Release();
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
        connectLock.Dispose();
    }
}
