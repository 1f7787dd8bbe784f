using Tinyo.Api.Statefile;
using Tinyo.Node.Cluster;

namespace Tinyo.Node.Tests.Cluster;

/// <summary>The placement decision (issue 14): spread, stability, constraints, resources, node loss, drain, clean-up.</summary>
public sealed class PlacementPolicyTests
{
    private const long GiB = 1L << 30;

    private static PlacementNode Node(string name, bool ready = true, bool draining = false, int cpus = 4, long memory = 8 * GiB, Dictionary<string, string>? labels = null)
        => new(name, cpus, memory, labels ?? [], ready, draining);

    private static AppSpec App(string name, int replicas = 1, string? node = null, Dictionary<string, string>? labels = null, double cpus = 0, long memory = 0)
        => new()
        {
            Name = name, Image = "busybox", Replicas = replicas, Node = node, NodeLabels = labels,
            Resources = cpus > 0 || memory > 0 ? new ResourceSpec { Cpus = cpus, MemoryBytes = memory } : null,
        };

    private static Dictionary<ReplicaKey, PlacementRecord> Apply(Dictionary<ReplicaKey, PlacementRecord> current, List<(ReplicaKey Key, PlacementRecord? Record)> changes)
    {
        var next = new Dictionary<ReplicaKey, PlacementRecord>(current);
        foreach (var (k, r) in changes)
            if (r is null) next.Remove(k);
            else next[k] = r;
        return next;
    }

    private static Dictionary<ReplicaKey, PlacementRecord> Place(List<PlacementNode> nodes, Dictionary<string, AppSpec> apps, Dictionary<ReplicaKey, PlacementRecord>? current = null)
    {
        current ??= [];
        var next = Apply(current, PlacementPolicy.Decide(nodes, apps, current));
        // A decision is a fixed point: deciding again from its own result changes nothing (every node agrees).
        Assert.Empty(PlacementPolicy.Decide(nodes, apps, next));
        return next;
    }

    [Fact]
    public void Replicas_spread_across_ready_nodes_one_per_node_before_any_gets_two()
    {
        var nodes = new List<PlacementNode> { Node("a"), Node("b"), Node("c"), Node("d", ready: false) };
        var p = Place(nodes, new() { ["web"] = App("web", 5) });
        var counts = p.Values.GroupBy(r => r.Node!).ToDictionary(g => g.Key, g => g.Count());
        Assert.False(counts.ContainsKey("d")); // lost: takes nothing
        Assert.Equal(5, counts.Values.Sum());
        Assert.True(counts.Values.Max() - counts.Values.Min() <= 1, string.Join(",", counts));
        Assert.Equal(["a", "b", "c"], p.Where(x => x.Key.Index <= 3).Select(x => x.Value.Node!).Order().ToArray());
    }

    [Fact]
    public void The_same_state_gives_the_same_decision_whatever_the_order_it_is_read_in()
    {
        var apps1 = new Dictionary<string, AppSpec> { ["a1"] = App("a1", 3), ["a2"] = App("a2", 2) };
        var apps2 = new Dictionary<string, AppSpec> { ["a2"] = App("a2", 2), ["a1"] = App("a1", 3) };
        var d1 = PlacementPolicy.Decide([Node("x"), Node("y")], apps1, new Dictionary<ReplicaKey, PlacementRecord>());
        var d2 = PlacementPolicy.Decide([Node("x"), Node("y")], apps2, new Dictionary<ReplicaKey, PlacementRecord>());
        Assert.Equal(d1, d2);
    }

    [Fact]
    public void Assignments_stay_put_when_a_node_joins_no_rebalancing()
    {
        var apps = new Dictionary<string, AppSpec> { ["web"] = App("web", 2) };
        var before = Place([Node("a")], apps);
        Assert.All(before.Values, r => Assert.Equal("a", r.Node));
        Assert.Empty(PlacementPolicy.Decide([Node("a"), Node("b")], apps, before));
    }

    [Fact]
    public void A_lost_nodes_replicas_move_to_ready_nodes_and_only_those()
    {
        var apps = new Dictionary<string, AppSpec> { ["web"] = App("web", 3) };
        var before = Place([Node("a"), Node("b"), Node("c")], apps);
        var onB = before.Where(x => x.Value.Node == "b").Select(x => x.Key).ToList();
        var changes = PlacementPolicy.Decide([Node("a"), Node("b", ready: false), Node("c")], apps, before);
        Assert.Equal(onB, changes.Select(c => c.Key).ToList());
        Assert.All(changes, c => Assert.Contains(c.Record!.Node, (string[])["a", "c"]));
    }

    [Fact]
    public void A_draining_node_gives_up_its_replicas_and_takes_none()
    {
        var apps = new Dictionary<string, AppSpec> { ["web"] = App("web", 4) };
        var before = Place([Node("a"), Node("b")], apps);
        var after = Place([Node("a", draining: true), Node("b")], apps, before);
        Assert.All(after.Values, r => Assert.Equal("b", r.Node));
    }

    [Fact]
    public void Node_and_label_constraints_are_kept_and_explain_why_when_they_cannot_be()
    {
        var ssd = new Dictionary<string, string> { ["disk"] = "ssd" };
        var nodes = new List<PlacementNode> { Node("a"), Node("b", labels: ssd), Node("c") };
        var p = Place(nodes, new()
        {
            ["db"] = App("db", 2, labels: ssd),
            ["pinned"] = App("pinned", 2, node: "c"),
            ["nowhere"] = App("nowhere", labels: new() { ["gpu"] = "yes" }),
            ["gone"] = App("gone", node: "zz"),
        });
        Assert.All(p.Where(x => x.Key.App == "db"), x => Assert.Equal("b", x.Value.Node));
        Assert.All(p.Where(x => x.Key.App == "pinned"), x => Assert.Equal("c", x.Value.Node));
        Assert.Equal(new PlacementRecord(null, "no ready node has the labels gpu=yes"), p[new ReplicaKey("nowhere", 1)]);
        Assert.Equal(new PlacementRecord(null, "node zz is not in the cluster (tio node ls)"), p[new ReplicaKey("gone", 1)]);
        // The pinned node lost: pending with that reason, not moved against the constraint.
        var lost = Place([Node("a"), Node("b", labels: ssd), Node("c", ready: false)], new() { ["pinned"] = App("pinned", 1, node: "c") });
        Assert.Equal("node c is lost", lost[new ReplicaKey("pinned", 1)].Pending);
    }

    [Fact]
    public void Declared_resources_are_checked_against_capacity_minus_what_is_placed()
    {
        var nodes = new List<PlacementNode> { Node("a", cpus: 2, memory: 4 * GiB), Node("b", cpus: 2, memory: 4 * GiB) };
        // 3 GiB each: one per node; the third fits nowhere and says so.
        var p = Place(nodes, new() { ["big"] = App("big", 3, memory: 3 * GiB) });
        Assert.Equal(["a", "b"], p.Values.Where(r => r.Node is not null).Select(r => r.Node!).Order().ToArray());
        var why = p[new ReplicaKey("big", 3)].Pending;
        Assert.NotNull(why);
        Assert.Contains("no ready node has room for 3072 MiB", why);
        Assert.Contains("most free: 1024 MiB", why);
        // CPUs too: 1.5 + 1.5 > 2.
        var c = Place(nodes, new() { ["cpu"] = App("cpu", 3, cpus: 1.5) });
        Assert.Single(c.Values, r => r.Pending is not null);
        // Apps without resources claim nothing: they always fit.
        var free = Place(nodes, new() { ["big"] = App("big", 2, memory: 4 * GiB), ["small"] = App("small", 4) });
        Assert.All(free.Where(x => x.Key.App == "small"), x => Assert.NotNull(x.Value.Node));
    }

    [Fact]
    public void A_pending_replica_is_placed_once_a_node_can_take_it()
    {
        var apps = new Dictionary<string, AppSpec> { ["web"] = App("web", 1) };
        var none = Place([Node("a", ready: false)], apps);
        Assert.Equal("no ready node", none[new ReplicaKey("web", 1)].Pending);
        var later = Place([Node("a")], apps, none);
        Assert.Equal("a", later[new ReplicaKey("web", 1)].Node);
    }

    [Fact]
    public void Scale_down_and_removed_apps_delete_their_assignments()
    {
        var before = Place([Node("a"), Node("b")], new() { ["web"] = App("web", 3), ["old"] = App("old", 1) });
        var changes = PlacementPolicy.Decide([Node("a"), Node("b")], new Dictionary<string, AppSpec> { ["web"] = App("web", 1) }, before);
        Assert.Equal([new ReplicaKey("old", 1), new ReplicaKey("web", 2), new ReplicaKey("web", 3)], changes.Select(c => c.Key).ToArray());
        Assert.All(changes, c => Assert.Null(c.Record));
    }

    [Fact]
    public void Placement_keys_parse_strictly()
    {
        Assert.Equal(new ReplicaKey("web", 12), Tinyo.Node.Store.PlacementStore.ParseKey("web/12"));
        foreach (var bad in (string[])["web", "web/", "web/0", "web/-1", "web/1x", "/1"])
            Assert.Null(Tinyo.Node.Store.PlacementStore.ParseKey(bad));
    }
}
