using Tinyo.Kv.Protocol;

namespace Tinyo.Node.Store;

/// <summary>The health of the KV member this node talks to, as the metrics need it.</summary>
/// <param name="Member">The member's name.</param>
/// <param name="IsLeader">Whether it is the Raft leader.</param>
/// <param name="HasLeader">Whether it knows a leader.</param>
/// <param name="Term">Its Raft term.</param>
/// <param name="CommitIndex">Its last committed log index.</param>
/// <param name="AppliedIndex">The last log index it applied to its store.</param>
/// <param name="LeaderChanges">Leader changes it saw since it started (0 from a member too old to count them).</param>
/// <param name="Revision">The store's revision there.</param>
/// <param name="Keys">Keys in the store there.</param>
public sealed record KvHealth(string Member, bool IsLeader, bool HasLeader, long Term, long CommitIndex, long AppliedIndex,
    long LeaderChanges, long Revision, long Keys);

/// <summary>
/// The KV member itself rather than the state in it: its health for the metrics and its snapshot for a backup. Kept
/// here with the other raw KV access (StoreAccessPlacementTests).
/// </summary>
public sealed class KvMemberStore(StateStore store)
{
    /// <summary>The member's status (a <see cref="Tinyo.Kv.KvException"/> when it does not answer).</summary>
    public async Task<KvHealth> HealthAsync(CancellationToken ct)
    {
        StatusInfo s = await store.Kv.StatusAsync(ct).ConfigureAwait(false);
        return new KvHealth(s.Name, s.Role == "leader", s.Leader.Length > 0 || s.Role == "leader", s.Term, s.CommitIndex,
            s.AppliedIndex, s.LeaderChanges, s.Revision, s.Keys);
    }

    /// <summary>Streams the member's snapshot (every key at one revision) into <paramref name="destination"/>.</summary>
    public Task SnapshotAsync(Stream destination, CancellationToken ct) => store.Kv.SnapshotAsync(destination, ct);
}
