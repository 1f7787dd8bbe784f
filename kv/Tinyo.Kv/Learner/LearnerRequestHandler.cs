using Tinyo.Kv.Protocol;
using Tinyo.Kv.Server;

namespace Tinyo.Kv.Learner;

/// <summary>
/// Answers a learner's clients. Serializable reads (and reads at a past revision) come from the local copy,
/// with the cluster's revisions. A linearizable read first takes a read point from the cluster
/// (<see cref="LearnerNode.ReadIndexAsync"/>) and waits for the copy to reach it, so it fails like a member's
/// read when the cluster has no quorum. Writes, leases, compaction and membership changes are answered
/// <see cref="ErrorCode.NotLeader"/> with the leader's client address, exactly as a follower does: the client
/// retries there with the same sequence number (exactly once). So is <c>snapshot save</c>: the learner does not
/// follow leases and client sessions (they are not in the watch stream), which a restorable snapshot needs. Watches are served by the server from
/// <see cref="LearnerNode.Watches"/>.
/// </summary>
internal sealed class LearnerRequestHandler(LearnerNode learner) : IRequestHandler
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);

    public async Task<byte[]> HandleAsync(Op op, byte[] body, ulong clientId, CancellationToken token)
    {
        try
        {
            return op switch
            {
                Op.Range => await RangeAsync(body, token).ConfigureAwait(false),
                Op.Put or Op.DeleteRange or Op.Txn or Op.LeaseGrant or Op.LeaseRevoke or Op.LeaseKeepAlive or Op.LeaseList
                    or Op.Compact or Op.MemberAdd or Op.MemberRemove or Op.Snapshot or Op.SnapshotStream => await NotLeaderAsync(token).ConfigureAwait(false),
                Op.MemberList => await MemberListAsync(body, token).ConfigureAwait(false),
                Op.Status => await StatusAsync(body, token).ConfigureAwait(false),
                Op.MemberLeave => Reply.Error(ErrorCode.BadRequest,
                    "this is a learner, not a Raft member: stop it (SIGTERM) and it deregisters itself"),
                Op.EnsureDurable => await EnsureDurableAsync(body, token).ConfigureAwait(false),
                Op.MemberPromote => await PromoteAsync(body, token).ConfigureAwait(false),
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
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            return Reply.Error(ErrorCode.Unavailable, "timed out waiting for the cluster");
        }
        catch (KvException e)
        {
            return Reply.Error(ErrorCode.Unavailable, $"learner: the cluster is unreachable: {e.Message}");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Console.Error.WriteLine($"tinyokv: {op} failed: {e}");
            return Reply.Error(ErrorCode.Internal, $"{op} failed: {e.Message}");
        }
    }

    private async Task<byte[]> NotLeaderAsync(CancellationToken token)
        => Reply.Error(ErrorCode.NotLeader, await learner.LeaderClientAddressAsync(token).ConfigureAwait(false));

    private async Task<byte[]> RangeAsync(byte[] body, CancellationToken token)
    {
        var r = new WireReader(body);
        var req = RangeRequest.Decode(ref r);
        r.End();
        if (!req.Serializable)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
            cts.CancelAfter(ReadTimeout);
            try
            {
                await learner.ReadIndexAsync(cts.Token).ConfigureAwait(false);
            }
            catch (KvServerException e)
            {
                // The member's answer (no quorum, no leader): a linearizable read cannot be served here either.
                throw new KvServerException(e.Code is ErrorCode.BadRequest ? ErrorCode.Unavailable : e.Code, $"learner: linearizable read: {e.Message}");
            }
        }
        var current = learner.Store.Current;
        if (req.Revision > current.Revision)
            throw new KvServerException(ErrorCode.FutureRevision, $"revision {req.Revision} is in the future (current: {current.Revision})");
        var resp = req.Revision > 0 && req.Revision < current.Revision ? learner.Watches.RangeAt(req, req.Revision) : current.Range(req);
        return Reply.Ok((ref w) => resp.Encode(ref w, req.KeysOnly));
    }

    private async Task<byte[]> MemberListAsync(byte[] body, CancellationToken token)
    {
        new WireReader(body).End();
        // The learner knows no Raft configuration: the cluster's list (members, then learners) is the answer.
        var list = await learner.Cluster.MemberListAsync(token).ConfigureAwait(false);
        var members = list.Where(static m => !m.Learner).ToList();
        var learners = list.Where(static m => m.Learner).ToList();
        return Reply.Ok((ref w) =>
        {
            w.Var(members.Count);
            foreach (var m in members) m.Encode(ref w);
            LearnerRegistry.Encode(ref w, learners);
        });
    }

    private async Task<byte[]> StatusAsync(byte[] body, CancellationToken token)
    {
        new WireReader(body).End();
        var status = await learner.StatusAsync(token).ConfigureAwait(false);
        return Reply.Ok((ref w) => status.Encode(ref w));
    }

    private async Task<byte[]> PromoteAsync(byte[] body, CancellationToken token)
    {
        var r = new WireReader(body);
        var name = r.String();
        r.End();
        if (name != learner.Options.Name)
            throw new KvServerException(ErrorCode.BadRequest, $"this is learner {learner.Options.Name}, not {name}");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
        cts.CancelAfter(TimeSpan.FromSeconds(120));
        await learner.PromoteAsync(cts.Token).ConfigureAwait(false);
        return Reply.Ok(static (ref w) => { });
    }

    /// <summary>While a promotion starts the member, the leader's durability checks reach it here (its client address).</summary>
    private async Task<byte[]> EnsureDurableAsync(byte[] body, CancellationToken token)
    {
        var r = new WireReader(body);
        var index = r.Var();
        r.End();
        if (learner.PromotingNode is not { } node) return Reply.Error(ErrorCode.BadRequest, "this is a learner, not a Raft member");
        await Raft.DurabilityTracker.EnsureLocalAsync(node, index, token).ConfigureAwait(false);
        return Reply.Ok(static (ref w) => { });
    }
}
