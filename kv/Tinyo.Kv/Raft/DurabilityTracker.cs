using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Raft;

/// <summary>
/// Answers <see cref="Op.EnsureDurable"/> from a leader of an earlier version. Those leaders confirmed each write in a
/// second round, asking a majority whether the entry was applied there (applied ⇒ committed ⇒ flushed), because a
/// follower used to acknowledge appends before flushing them. Followers now acknowledge only flushed entries
/// (<see cref="DurableLog"/>), so this version's leader never asks; the answer is kept for a group that is upgraded
/// one member at a time.
/// </summary>
public static class DurabilityTracker
{
    /// <summary>Serves a peer's <see cref="Op.EnsureDurable"/>: waits until the index is applied (so flushed) here.</summary>
    public static async Task EnsureLocalAsync(KvNode node, long index, CancellationToken token)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
        cts.CancelAfter(TimeSpan.FromSeconds(2));
        await node.Wal.WaitForApplyAsync(index, cts.Token).ConfigureAwait(false);
    }
}
