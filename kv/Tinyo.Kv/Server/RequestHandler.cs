using System.Security.Cryptography;
using DotNext.Net.Cluster.Consensus.Raft;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;
using Tinyo.Kv.Raft;

namespace Tinyo.Kv.Server;

/// <summary>
/// Turns one request into one reply. Writes are validated here (a malformed body never reaches the log), then
/// proposed on the leader; a follower answers <see cref="ErrorCode.NotLeader"/> with the leader's client address
/// and the client retries there with the same sequence number. Reads go through DotNext's read barrier
/// (linearizable, also on followers) unless the request asks for a serializable read of local state.
/// </summary>
internal sealed class RequestHandler(KvNode node) : IRequestHandler
{
    private static readonly TimeSpan WriteTimeout = TimeSpan.FromSeconds(10);

    public async Task<byte[]> HandleAsync(Op op, byte[] body, ulong clientId, CancellationToken token)
    {
        try
        {
            return op switch
            {
                Op.Put => await WriteAsync(CommandKind.Put, body, clientId, token).ConfigureAwait(false),
                Op.DeleteRange => await WriteAsync(CommandKind.DeleteRange, body, clientId, token).ConfigureAwait(false),
                Op.Txn => await WriteAsync(CommandKind.Txn, body, clientId, token).ConfigureAwait(false),
                Op.LeaseGrant => await WriteAsync(CommandKind.LeaseGrant, body, clientId, token).ConfigureAwait(false),
                Op.LeaseRevoke => await WriteAsync(CommandKind.LeaseRevoke, body, clientId, token).ConfigureAwait(false),
                Op.Compact => await WriteAsync(CommandKind.Compact, body, clientId, token).ConfigureAwait(false),
                Op.Range => await RangeAsync(body, token).ConfigureAwait(false),
                Op.LeaseKeepAlive => await KeepAliveAsync(body, token).ConfigureAwait(false),
                Op.LeaseList => LeaseList(body),
                Op.MemberList => await MemberListAsync(body, token).ConfigureAwait(false),
                Op.MemberAdd or Op.MemberRemove => await MembershipAsync(op, body, token).ConfigureAwait(false),
                Op.MemberLeave => await LeaveAsync(body, token).ConfigureAwait(false),
                Op.Status => await StatusAsync(body, token).ConfigureAwait(false),
                Op.Snapshot => Snapshot(body),
                Op.EnsureDurable => await EnsureDurableAsync(body, token).ConfigureAwait(false),
                Op.MemberPromote => Reply.Error(ErrorCode.BadRequest,
                    "this is a member already: member promote is sent to the learner (tinyokv member promote NAME finds it)"),
                Op.Hello => Reply.Error(ErrorCode.BadRequest, "already authenticated"),
                _ => Reply.Error(ErrorCode.BadRequest, $"unknown operation {(byte)op}"),
            };
        }
        catch (ProtocolException e)
        {
            return Reply.Error(ErrorCode.BadRequest, e.Message);
        }
        catch (KvServerException e)
        {
            return Reply.Error(e.Code, e.Message);
        }
        catch (NotLeaderException)
        {
            return await NotLeaderAsync(token).ConfigureAwait(false);
        }
        catch (QuorumUnreachableException)
        {
            return Reply.Error(ErrorCode.Unavailable, "no quorum: too few members reachable");
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            return Reply.Error(ErrorCode.Unavailable, "timed out waiting for the cluster");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Console.Error.WriteLine($"tinyokv: {op} failed: {e}");
            return Reply.Error(ErrorCode.Internal, $"{op} failed: {e.Message}");
        }
    }

    private async Task<byte[]> NotLeaderAsync(CancellationToken token)
    {
        var leader = await node.LeaderClientAddressAsync(token).ConfigureAwait(false);
        // The message is the leader's client address (empty when there is none): the client follows it.
        return Reply.Error(ErrorCode.NotLeader, leader == Endpoints.Format(node.Options.ClientAddress) ? "" : leader);
    }

    private async Task<byte[]> WriteAsync(CommandKind kind, byte[] body, ulong clientId, CancellationToken token)
    {
        var r = new WireReader(body);
        var seq = r.UVar();
        var ackedBelow = r.UVar();
        var start = body.Length - r.Remaining;
        var message = body.AsSpan(start);
        Validate(kind, message);
        if (!node.IsLeader) return await NotLeaderAsync(token).ConfigureAwait(false);

        if (kind == CommandKind.LeaseGrant)
        {
            // The leader picks lease ids, so the log carries the chosen id and replicas agree.
            var lr = new WireReader(message);
            var id = lr.Var();
            var ttl = lr.Var();
            if (ttl <= 0) throw new KvServerException(ErrorCode.BadRequest, "lease TTL must be positive");
            if (id == 0) id = Random.Shared.NextInt64(1, long.MaxValue);
            message = EncodeLease(id, ttl);
        }
        // Deletes, compaction and revokes still pass on a nearly full disk: they are how the store's space is freed.
        node.Disk.EnsureRoom(message.Length, freesSpace: kind is CommandKind.DeleteRange or CommandKind.Compact or CommandKind.LeaseRevoke);
        if (node.Options.QuotaBytes > 0 && kind is CommandKind.Put or CommandKind.Txn
            && node.Store.Current.DataBytes + message.Length > node.Options.QuotaBytes)
        {
            throw new KvServerException(ErrorCode.NoSpace,
                $"NOSPACE: the store holds {node.Store.Current.DataBytes} bytes and its quota is {node.Options.QuotaBytes}; delete or compact, or raise --quota-bytes");
        }

        var command = Command.Encode(kind, clientId, seq, ackedBelow, message);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token, node.Lifetime);
        cts.CancelAfter(WriteTimeout);
        return await node.ProposeAsync(command, cts.Token).ConfigureAwait(false);
    }

    private static byte[] EncodeLease(long id, long ttl)
    {
        var buf = new System.Buffers.ArrayBufferWriter<byte>(20);
        var w = new WireWriter(buf);
        w.Var(id);
        w.Var(ttl);
        return buf.WrittenSpan.ToArray();
    }

    private static void Validate(CommandKind kind, ReadOnlySpan<byte> message)
    {
        var r = new WireReader(message);
        switch (kind)
        {
            case CommandKind.Put:
                if (PutRequest.Decode(ref r).Key.Length == 0) throw new KvServerException(ErrorCode.BadRequest, "empty key");
                break;
            case CommandKind.DeleteRange:
                DeleteRangeRequest.Decode(ref r);
                break;
            case CommandKind.Txn:
                var txn = TxnRequest.Decode(ref r);
                if (txn.Compares.Count + txn.Success.Count + txn.Failure.Count > 10_000)
                    throw new KvServerException(ErrorCode.BadRequest, "transaction has more than 10000 compares and operations");
                break;
            case CommandKind.LeaseGrant:
                r.Var();
                r.Var();
                break;
            default:
                r.Var();
                break;
        }
        r.End();
    }

    private async Task<byte[]> RangeAsync(byte[] body, CancellationToken token)
    {
        var r = new WireReader(body);
        var req = RangeRequest.Decode(ref r);
        r.End();
        if (!req.Serializable)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(token, node.Lifetime);
            cts.CancelAfter(WriteTimeout);
            await node.Cluster.ApplyReadBarrierAsync(cts.Token).ConfigureAwait(false);
        }
        var current = node.Store.Current;
        if (req.Revision > current.Revision)
            throw new KvServerException(ErrorCode.FutureRevision, $"revision {req.Revision} is in the future (current: {current.Revision})");
        var resp = req.Revision > 0 && req.Revision < current.Revision ? node.Watches.RangeAt(req, req.Revision) : current.Range(req);
        return Reply.Ok((ref w) => resp.Encode(ref w, req.KeysOnly));
    }

    private async Task<byte[]> KeepAliveAsync(byte[] body, CancellationToken token)
    {
        var r = new WireReader(body);
        var id = r.Var();
        r.End();
        if (!node.IsLeader) return await NotLeaderAsync(token).ConfigureAwait(false);
        var ttl = node.Leases.KeepAlive(id);
        return Reply.Ok((ref w) => w.Var(ttl));
    }

    private byte[] LeaseList(byte[] body)
    {
        new WireReader(body).End();
        var leases = node.Store.LeaseTtls;
        return Reply.Ok((ref w) =>
        {
            w.Var(leases.Count);
            foreach (var (id, ttl) in leases)
            {
                w.Var(id);
                w.Var(ttl);
            }
        });
    }

    private async Task<byte[]> MemberListAsync(byte[] body, CancellationToken token)
    {
        new WireReader(body).End();
        var list = await node.MembersAsync(token).ConfigureAwait(false);
        var learners = Learner.LearnerRegistry.List(node.Store.Current);
        return Reply.Ok((ref w) =>
        {
            w.Var(list.Count);
            foreach (var m in list) m.Encode(ref w);
            Learner.LearnerRegistry.Encode(ref w, learners);
        });
    }

    private async Task<byte[]> MembershipAsync(Op op, byte[] body, CancellationToken token)
    {
        var r = new WireReader(body);
        var peer = Endpoints.Parse(r.String());
        var standby = op == Op.MemberAdd && r.Remaining > 0 && r.Bool();
        r.End();
        if (!node.IsLeader) return await NotLeaderAsync(token).ConfigureAwait(false);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token, node.Lifetime);
        cts.CancelAfter(TimeSpan.FromSeconds(30));
        bool ok;
        try
        {
            if (op == Op.MemberAdd)
            {
                // Standby is how the member process runs (DotNext's setting is local), so it cannot be imposed
                // here: check that it matches what was asked before the configuration changes.
                bool runsStandby;
                try
                {
                    runsStandby = await PeerTransport.ProbeStandbyAsync(peer, node.Options.Token, node.Options.PeerTls, cts.Token).ConfigureAwait(false);
                }
                catch (KvException e) when (e is not KvServerException)
                {
                    throw new KvServerException(ErrorCode.MembershipFailed, $"could not add {Endpoints.Format(peer)}: {e.Message}");
                }
                if (runsStandby != standby)
                {
                    throw new KvServerException(ErrorCode.MembershipFailed, runsStandby
                        ? $"{Endpoints.Format(peer)} runs as a standby (serve --standby): add it with --standby"
                        : $"{Endpoints.Format(peer)} runs as a voter: to add it as a standby, restart it with serve --standby");
                }
            }
            ok = op == Op.MemberAdd
                ? await node.Cluster.AddMemberAsync(peer, cts.Token).ConfigureAwait(false)
                : await node.Cluster.RemoveMemberAsync(peer, cts.Token).ConfigureAwait(false);
        }
        catch (RaftCluster.ConcurrentMembershipModificationException)
        {
            throw new KvServerException(ErrorCode.MembershipFailed, "another membership change is in progress; retry");
        }
        if (!ok)
        {
            throw new KvServerException(ErrorCode.MembershipFailed, op == Op.MemberAdd
                ? $"could not add {Endpoints.Format(peer)}: is it running with an empty data dir and reachable, and not a member already?"
                : $"could not remove {Endpoints.Format(peer)}: not a member?");
        }
        return Reply.Ok(static (ref w) => { });
    }

    private async Task<byte[]> LeaveAsync(byte[] body, CancellationToken token)
    {
        new WireReader(body).End();
        await node.LeaveAsync(token).ConfigureAwait(false);
        return Reply.Ok(static (ref w) => { });
    }

    private async Task<byte[]> StatusAsync(byte[] body, CancellationToken token)
    {
        new WireReader(body).End();
        var status = await node.StatusAsync(token).ConfigureAwait(false);
        return Reply.Ok((ref w) => status.Encode(ref w));
    }

    private byte[] Snapshot(byte[] body)
    {
        new WireReader(body).End();
        using var ms = new MemoryStream();
        node.Store.Capture().WriteTo(ms);
        var bytes = ms.ToArray();
        return Reply.Ok((ref w) => w.Bytes(bytes));
    }

    private async Task<byte[]> EnsureDurableAsync(byte[] body, CancellationToken token)
    {
        var r = new WireReader(body);
        var index = r.Var();
        r.End();
        await DurabilityTracker.EnsureLocalAsync(node, index, token).ConfigureAwait(false);
        return Reply.Ok(static (ref w) => { });
    }
}
