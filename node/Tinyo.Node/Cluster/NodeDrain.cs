using System.Diagnostics;
using Tinyo.Api;
using Tinyo.Node.Store;

namespace Tinyo.Node.Cluster;

/// <summary>
/// Draining a node (<c>tio node - NAME</c>, and <c>tio down</c> before it stops a node): the drain mark makes
/// placement move the node's replicas and give it none; the drain is done once no assignment names the node, every
/// moved replica runs on its new node, and the drained node (if it is alive) reports none of its own any more.
/// Removal then deletes the node's registry entries and its KV membership.
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

    /// <summary>Drains, then removes the node from the registry and its tinyokv from the KV group.</summary>
    public static async Task<Outcome> RemoveAsync(StateStore store, string node, TimeSpan timeout, CancellationToken ct)
    {
        var record = await store.GetAsync(ClusterKeys.Nodes + node, Tinyo.Api.Cluster.ClusterJson.Default.NodeRecord, ct).ConfigureAwait(false)
                     ?? throw new NodeException($"no node '{node}' (tio node ls)");
        var outcome = await DrainAsync(store, node, timeout, ct).ConfigureAwait(false);
        var kv = new PlacementStore(store);
        if (record.Address != "local") await kv.RemoveKvMemberAsync(record.Address, ct).ConfigureAwait(false);
        await kv.RemoveNodeAsync(node, ct).ConfigureAwait(false);
        return outcome;
    }

    private static bool Runs(List<(string Name, AppStatus Value)> statuses, string node, ReplicaKey key)
    {
        var name = key.App + "-" + key.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (k, s) in statuses)
            if (k == node + "/" + key.App && s.Containers.Any(c => c.Name == name && c.State == "running")) return true;
        return false;
    }
}
