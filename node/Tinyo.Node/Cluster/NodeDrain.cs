using System.Diagnostics;
using Tinyo.Api;
using Tinyo.Node.Store;

namespace Tinyo.Node.Cluster;

/// <summary>
/// Draining a node (<c>tio node - NAME</c>, and <c>tio down</c> before it stops a node): the drain mark makes
/// placement move the node's replicas and give it none; the drain is done once no assignment names the node, every
/// moved replica runs on its new node, and the drained node (if it is alive) reports none of its own any more.
/// Removal then stops the node (it sees its removal mark), deletes its registry entries and its KV membership.
/// </summary>
public static class NodeDrain
{
    /// <summary>What a drain did: replicas moved, those left pending (no node could take them), the time it took.</summary>
    public sealed record Outcome(int Moved, List<string> Pending, TimeSpan Took);

    /// <summary>Marks <paramref name="node"/> draining and waits (up to <paramref name="timeout"/>) until its replicas run elsewhere.</summary>
    public static async Task<Outcome> DrainAsync(StateStore store, string node, TimeSpan timeout, CancellationToken ct)
    {
        var kv = new PlacementStore(store);
        var sw = Stopwatch.StartNew();
        var before = await kv.ReadAsync(ct).ConfigureAwait(false);
        if (!before.Nodes.Exists(n => n.Name == node)) throw new NodeException($"no node '{node}' (tio node ls)");
        var moving = before.Assignments.Where(a => a.Value.Record.Node == node).Select(a => a.Key).ToHashSet();
        await kv.SetDrainAsync(node, ct).ConfigureAwait(false);
        while (true)
        {
            var state = await kv.ReadAsync(ct).ConfigureAwait(false);
            var statuses = await store.ListAsync(Keys.Status, ApiJson.Default.AppStatus, ct).ConfigureAwait(false);
            var pending = new List<string>();
            var done = true;
            foreach (var key in moving)
            {
                if (!state.Apps.TryGetValue(key.App, out var spec) || key.Index > spec.Replicas) continue; // removed meanwhile
                var rec = state.Assignments.GetValueOrDefault(key).Record;
                if (rec?.Node is not { } to || to == node)
                {
                    if (rec?.Pending is { } why) pending.Add($"{key.App}-{key.Index}: {why}");
                    else done = false;
                    continue;
                }
                if (!Runs(statuses, to, key)) done = false;
            }
            var alive = state.Nodes.Exists(n => n.Name == node && n.Ready);
            if (alive && statuses.Exists(s => s.Name.StartsWith(node + "/", StringComparison.Ordinal) && s.Value.Containers.Count > 0)) done = false;
            if (done) return new Outcome(moving.Count - pending.Count, pending, sw.Elapsed);
            if (sw.Elapsed > timeout)
                throw new NodeException($"node {node}: its replicas did not all run elsewhere within {timeout.TotalSeconds:0} s (tio ls shows where they are); it stays drained");
            await Task.Delay(TimeSpan.FromMilliseconds(250), ct).ConfigureAwait(false);
        }
    }

    /// <summary>How long a removed node has to stop its daemons before its KV member is taken anyway.</summary>
    public static TimeSpan StopWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Drains, then removes the node: marks it removed (a running node sees the mark, stops its daemons and ends its
    /// liveness), waits for it to stop (up to <see cref="StopWait"/>), then takes its tinyokv out of the KV group —
    /// a learner, if there is one, is promoted in its place, so the group keeps its size — and deletes its registry
    /// entries (the mark with them). The member goes after the node has stopped: a node still running needs its KV
    /// to shut down cleanly (its nft table, links), and a dead member costs the group nothing it has not lost already.
    /// </summary>
    public static async Task<Outcome> RemoveAsync(StateStore store, string node, TimeSpan timeout, CancellationToken ct, Action<string>? log = null)
    {
        var record = await store.GetAsync(ClusterKeys.Nodes + node, Tinyo.Api.Cluster.ClusterJson.Default.NodeRecord, ct).ConfigureAwait(false)
                     ?? throw new NodeException($"no node '{node}' (tio node ls)");
        var outcome = await DrainAsync(store, node, timeout, ct).ConfigureAwait(false);
        var registry = new NodeRegistryStore(store);
        await registry.MarkRemovedAsync(node, ct).ConfigureAwait(false);
        var waited = Stopwatch.StartNew();
        while ((await registry.AliveAsync(ct).ConfigureAwait(false)).Contains(node))
        {
            if (waited.Elapsed > StopWait)
            {
                log?.Invoke($"node {node}: still alive {StopWait.TotalSeconds:0} s after its removal; its KV member is removed anyway");
                break;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
        }
        var kv = new PlacementStore(store);
        if (record.Address != "local" && await kv.RemoveKvMemberAsync(record.Address, ct).ConfigureAwait(false))
            await PromoteLearnerAsync(registry, log, ct).ConfigureAwait(false);
        await kv.RemoveNodeAsync(node, ct).ConfigureAwait(false);
        return outcome;
    }

    /// <summary>A voter left: a learner (a node beyond the fifth voter) takes its place, so the group stays as safe as it was.</summary>
    public static async Task PromoteLearnerAsync(NodeRegistryStore registry, Action<string>? log, CancellationToken ct)
    {
        var learner = (await registry.MembersAsync(ct).ConfigureAwait(false)).FirstOrDefault(m => m.Learner);
        if (learner is null) return;
        try
        {
            await registry.PromoteAsync(learner.Name, ct).ConfigureAwait(false);
            log?.Invoke($"kv: learner {learner.Name} promoted to a voter in place of the removed member");
        }
        catch (Tinyo.Kv.KvException e)
        {
            log?.Invoke($"kv: learner {learner.Name} not promoted: {e.Message}");
        }
    }

    private static bool Runs(List<(string Name, AppStatus Value)> statuses, string node, ReplicaKey key)
    {
        var name = key.App + "-" + key.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (k, s) in statuses)
            if (k == node + "/" + key.App && s.Containers.Any(c => c.Name == name && c.State == "running")) return true;
        return false;
    }
}
