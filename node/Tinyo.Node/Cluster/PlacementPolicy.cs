using System.Globalization;
using Tinyo.Api.Statefile;

namespace Tinyo.Node.Cluster;

/// <summary>A node as placement sees it: capacity, labels, and whether it may take replicas.</summary>
/// <param name="Name">The node's name.</param>
/// <param name="Cpus">Its CPUs.</param>
/// <param name="MemoryBytes">Its memory (0: unknown, not checked).</param>
/// <param name="Labels">Its labels (<c>tio ++ --label k=v</c>).</param>
/// <param name="Ready">Its liveness lease is current.</param>
/// <param name="Draining">It is being drained (<c>tio node -</c>, <c>tio down</c>): it takes no replica and keeps none.</param>
public sealed record PlacementNode(string Name, int Cpus, long MemoryBytes, IReadOnlyDictionary<string, string> Labels, bool Ready, bool Draining = false);

/// <summary>Replica <see cref="Index"/> (1-based) of app <see cref="App"/>.</summary>
public readonly record struct ReplicaKey(string App, int Index);

/// <summary>Where one replica is assigned: a node, or none with the reason (pending).</summary>
/// <param name="Node">The node, or null while pending.</param>
/// <param name="Pending">Why no node takes it, or null when assigned.</param>
public sealed record PlacementRecord(string? Node, string? Pending = null);

/// <summary>
/// The placement decision, a pure function of the cluster state, so that every node computes the same answer from
/// the same KV revision and no node needs to lead (issue 14; docs/architecture.md, "Placement"):
/// <list type="number">
/// <item>An assignment stays while its node is ready, not draining and still matches the app's constraints:
/// replicas never move to rebalance, only when they must.</item>
/// <item>Every other replica goes to the node, among the ready, non-draining ones that match <c>node:</c> and
/// <c>nodes:</c> and have room for the app's declared <c>resources</c> (cpus, memory) beside what is already
/// assigned there, that holds the fewest replicas of this app, then the fewest replicas overall, then by name.</item>
/// <item>A replica no node can take is pending, with the reason (shown by <c>tio ls</c>).</item>
/// <item>Assignments of apps that are gone, or of replicas above the app's count, are deleted.</item>
/// </list>
/// </summary>
public static class PlacementPolicy
{
    /// <summary>
    /// The changes that bring <paramref name="current"/> to the decision: a record to write, or null to delete the
    /// assignment. Apps are taken in name order and replicas in index order, so the result does not depend on
    /// dictionary order.
    /// </summary>
    public static List<(ReplicaKey Key, PlacementRecord? Record)> Decide(IReadOnlyList<PlacementNode> nodes,
        IReadOnlyDictionary<string, AppSpec> apps, IReadOnlyDictionary<ReplicaKey, PlacementRecord> current)
    {
        var byName = nodes.ToDictionary(n => n.Name, StringComparer.Ordinal);
        var use = nodes.ToDictionary(n => n.Name, _ => new Usage(), StringComparer.Ordinal);
        var ordered = apps.OrderBy(a => a.Key, StringComparer.Ordinal).ToList();
        var kept = new HashSet<ReplicaKey>();
        // 1. What stays where it is, and what it uses.
        foreach (var (name, spec) in ordered)
            for (var i = 1; i <= spec.Replicas; i++)
            {
                var key = new ReplicaKey(name, i);
                if (current.GetValueOrDefault(key)?.Node is { } n && byName.TryGetValue(n, out var node) && Usable(node) && Matches(spec, node))
                {
                    use[n].Add(spec);
                    kept.Add(key);
                }
            }
        var changes = new List<(ReplicaKey, PlacementRecord?)>();
        // 2. Everything else, in order.
        foreach (var (name, spec) in ordered)
            for (var i = 1; i <= spec.Replicas; i++)
            {
                var key = new ReplicaKey(name, i);
                if (kept.Contains(key)) continue;
                var record = Choose(spec, nodes, use);
                if (record.Node is { } n) use[n].Add(spec);
                if (current.GetValueOrDefault(key) != record) changes.Add((key, record));
            }
        // 3. Assignments nothing needs any more.
        foreach (var key in current.Keys.OrderBy(k => k.App, StringComparer.Ordinal).ThenBy(k => k.Index))
            if (!apps.TryGetValue(key.App, out var spec) || key.Index > spec.Replicas) changes.Add((key, null));
        return changes;
    }

    private static bool Usable(PlacementNode n) => n.Ready && !n.Draining;

    /// <summary>Whether a node satisfies the app's <c>node:</c> and <c>nodes:</c> constraints.</summary>
    public static bool Matches(AppSpec spec, PlacementNode n)
    {
        if (spec.Node is { } only && only != n.Name) return false;
        if (spec.NodeLabels is { } want)
            foreach (var (k, v) in want)
                if (!n.Labels.TryGetValue(k, out var has) || has != v) return false;
        return true;
    }

    private static PlacementRecord Choose(AppSpec spec, IReadOnlyList<PlacementNode> nodes, Dictionary<string, Usage> use)
    {
        PlacementNode? best = null;
        var matching = 0;
        PlacementNode? roomiest = null;
        foreach (var n in nodes)
        {
            if (!Usable(n) || !Matches(spec, n)) continue;
            matching++;
            var u = use[n.Name];
            if (roomiest is null || n.MemoryBytes - u.Memory > roomiest.MemoryBytes - use[roomiest.Name].Memory) roomiest = n;
            if (!u.Fits(spec, n)) continue;
            if (best is null || Better(n, best, spec.Name, use)) best = n;
        }
        if (best is not null) return new PlacementRecord(best.Name);
        return new PlacementRecord(null, Reason(spec, nodes, matching, roomiest, use));
    }

    private static bool Better(PlacementNode a, PlacementNode b, string app, Dictionary<string, Usage> use)
    {
        var (ua, ub) = (use[a.Name], use[b.Name]);
        var (ma, mb) = (ua.Of(app), ub.Of(app));
        if (ma != mb) return ma < mb;
        if (ua.Count != ub.Count) return ua.Count < ub.Count;
        return string.CompareOrdinal(a.Name, b.Name) < 0;
    }

    private static string Reason(AppSpec spec, IReadOnlyList<PlacementNode> nodes, int matching, PlacementNode? roomiest, Dictionary<string, Usage> use)
    {
        if (spec.Node is { } only)
        {
            var n = nodes.FirstOrDefault(x => x.Name == only);
            if (n is null) return $"node {only} is not in the cluster (tio node ls)";
            if (!n.Ready) return $"node {only} is lost";
            if (n.Draining) return $"node {only} is being drained";
        }
        if (!nodes.Any(Usable)) return "no ready node";
        if (matching == 0)
            return spec.NodeLabels is { Count: > 0 } l
                ? $"no ready node has the labels {string.Join(',', l.Select(kv => kv.Key + "=" + kv.Value))}"
                : "no ready node matches";
        var r = spec.Resources!;
        var need = new List<string>();
        if (r.Cpus > 0) need.Add(r.Cpus.ToString("0.##", CultureInfo.InvariantCulture) + " CPUs");
        if (r.MemoryBytes > 0) need.Add($"{r.MemoryBytes >> 20} MiB");
        var free = roomiest is null ? "" : $" (most free: {(roomiest.MemoryBytes - use[roomiest.Name].Memory) >> 20} MiB, "
            + $"{Math.Max(0, roomiest.Cpus - use[roomiest.Name].Cpus).ToString("0.##", CultureInfo.InvariantCulture)} CPUs on {roomiest.Name})";
        return $"no ready node has room for {string.Join(" and ", need)} beside what is placed there{free}";
    }

    /// <summary>What the replicas assigned to one node declare.</summary>
    private sealed class Usage
    {
        private readonly Dictionary<string, int> perApp = new(StringComparer.Ordinal);
        public double Cpus;
        public long Memory;
        public int Count;

        public int Of(string app) => perApp.GetValueOrDefault(app);

        public void Add(AppSpec spec)
        {
            Cpus += spec.Resources?.Cpus ?? 0;
            Memory += spec.Resources?.MemoryBytes ?? 0;
            Count++;
            perApp[spec.Name] = Of(spec.Name) + 1;
        }

        /// <summary>Declared resources only: an app without <c>resources</c> fits anywhere (it claims nothing).</summary>
        public bool Fits(AppSpec spec, PlacementNode n)
        {
            if (spec.Resources is not { } r) return true;
            if (r.Cpus > 0 && Cpus + r.Cpus > n.Cpus + 1e-9) return false;
            if (r.MemoryBytes > 0 && n.MemoryBytes > 0 && Memory + r.MemoryBytes > n.MemoryBytes) return false;
            return true;
        }
    }
}
