using System.Net;
using Tinyo.Api;
using Tinyo.Api.Cluster;
using Tinyo.Node.Network;

namespace Tinyo.Node.Tests.Network;

/// <summary>The overlay's view of the KV (peers per cluster, names of replicas on other nodes), its rules, and the
/// DNS table merging other nodes' replicas: pure, no kernel.</summary>
public sealed class OverlayViewTests
{
    private static NodeRecord Node(string name, string address) => new(name, address, 7443, 2, 1 << 30, null, DateTimeOffset.UnixEpoch);

    private static ContainerStatus Replica(string name, string address, string state = "running", string? health = null)
        => new(name, "id", state, 1, 0, null, null, Health: health, Address: address);

    private static AppStatus Status(string node, string app, params ContainerStatus[] cs)
        => new(app, node, "h", "running", null, cs, DateTimeOffset.UnixEpoch);

    [Fact]
    public void Peers_are_the_other_ready_nodes_holding_a_subnet_of_the_cluster_with_their_addresses()
    {
        var subnets = new List<(string, string)>
        {
            ("a/front", "10.88.0.0/24"), ("b/front", "10.88.1.0/24"), ("c/front", "10.88.2.0/24"), ("b/back", "10.88.3.0/24"),
            ("d/front", "10.88.4.0/24"), // d has no record: not a peer
            ("b/bad", "not a subnet"), ("b", "10.88.9.0/24"), ("x/y/z", "10.88.9.0/24"), ("b/huge", "10.0.0.0/4"),
        };
        var alive = new HashSet<string> { "a", "b", "d" }; // c is lost
        var nodes = new List<NodeRecord> { Node("a", "10.99.0.1"), Node("b", "10.99.0.2"), Node("c", "10.99.0.3"), Node("e", "local") };
        var v = OverlayView.Compute("a", subnets, alive, nodes, []);
        var front = Assert.Single(v.PeersOf("front"));
        Assert.Equal(("b", "10.88.1.0/24", "10.99.0.2", "10.88.1.1"), (front.Node, front.Subnet.ToString(), front.Address.ToString(), front.Gateway.ToString()));
        Assert.Equal("10.88.3.0/24", Assert.Single(v.PeersOf("back")).Subnet.ToString());
        Assert.Empty(v.PeersOf("none"));
        Assert.Equal([IPAddress.Parse("10.99.0.2")], v.NodeAddresses);
        Assert.Equal(4, v.Skipped); // bad value, no cluster, two slashes, a /4
    }

    [Fact]
    public void Replicas_on_other_nodes_are_named_in_the_cluster_whose_subnet_holds_their_address()
    {
        var subnets = new List<(string, string)> { ("a/front", "10.88.0.0/24"), ("b/front", "10.88.1.0/24"), ("b/back", "10.88.3.0/24") };
        var alive = new HashSet<string> { "a", "b" };
        var nodes = new List<NodeRecord> { Node("a", "10.99.0.1"), Node("b", "10.99.0.2") };
        var status = new List<(string, AppStatus)>
        {
            ("b/db", Status("b", "db", Replica("db-1", "10.88.1.2"), Replica("db-2", "10.88.1.3", health: "unhealthy"), Replica("db-3", "10.88.1.4", "exited"))),
            ("b/other", Status("b", "other", Replica("other-1", "10.88.3.2"))),
            ("b/odd", Status("b", "odd", Replica("nope", "10.88.1.9"), Replica("odd-1", "fe80::1"), Replica("odd-2", "10.99.0.7"))),
            ("a/db", Status("a", "db", Replica("db-1", "10.88.0.2"))), // this node's own: the reconciler names those
        };
        var v = OverlayView.Compute("a", subnets, alive, nodes, status);
        var front = v.RemoteNamesOf("front");
        Assert.Equal(["db"], front.Keys);
        Assert.Equal(["1:10.88.1.2:True", "2:10.88.1.3:False", "3:10.88.1.4:False"], front["db"].Select(r => $"{r.Index}:{r.Address}:{r.Healthy}"));
        Assert.Equal(["other"], v.RemoteNamesOf("back").Keys);
    }

    [Fact]
    public void The_name_table_merges_other_nodes_replicas_and_prefers_its_own_for_a_replica_name()
    {
        var t = new DnsNameTable();
        t.SetApp("db", [new DnsReplica(1, IPAddress.Parse("10.88.0.2"), true)]);
        t.SetRemote(new Dictionary<string, List<DnsReplica>>
        {
            ["db"] = [new DnsReplica(1, IPAddress.Parse("10.88.1.2"), true), new DnsReplica(2, IPAddress.Parse("10.88.1.3"), true), new DnsReplica(3, IPAddress.Parse("10.88.1.4"), false)],
            ["far"] = [new DnsReplica(1, IPAddress.Parse("10.88.1.9"), true)],
        });
        Assert.Equal(["10.88.0.2", "10.88.1.2", "10.88.1.3"], t.Lookup("db", rotate: false)!.Select(a => a.ToString()));
        Assert.Equal("10.88.0.2", Assert.Single(t.Lookup("db-1")!).ToString()); // this node's replica 1
        Assert.Equal("10.88.1.3", Assert.Single(t.Lookup("db-2")!).ToString());
        Assert.Equal("10.88.1.4", Assert.Single(t.Lookup("db-3")!).ToString()); // a replica name, whatever its health
        Assert.Equal("10.88.1.9", Assert.Single(t.Lookup("far")!).ToString());
        t.SetRemote(new Dictionary<string, List<DnsReplica>>()); // the other node is lost
        Assert.Null(t.Lookup("far"));
        Assert.Null(t.Lookup("db-2"));
        Assert.Equal(["10.88.0.2"], t.Lookup("db", rotate: false)!.Select(a => a.ToString()));
    }

    [Fact]
    public void The_overlay_rules_accept_the_port_from_nodes_only_and_never_from_or_through_a_cluster_bridge()
    {
        var text = OverlayRules.Render("tinyo_vx1", ["tba", "tbb"], [IPAddress.Parse("10.99.0.2"), IPAddress.Parse("10.99.0.3")], 4789);
        Assert.StartsWith("table inet tinyo_vx1 {}\ndelete table inet tinyo_vx1\n", text);
        Assert.Contains("elements = { 10.99.0.2, 10.99.0.3 }", text);
        Assert.Contains("iifname { \"tba\", \"tbb\" } udp dport 4789 drop comment \"overlay: not from containers\"", text);
        Assert.Contains("udp dport 4789 ip saddr != @nodes drop", text);
        Assert.Contains("iifname { \"tba\", \"tbb\" } udp dport 4789 drop comment \"overlay: no frames forged by containers\"", text);
        // No other node yet: the set is empty and every tunnel packet is dropped.
        Assert.DoesNotContain("elements", OverlayRules.Render("t", ["tba"], [], 4789));
        Assert.Throws<NodeException>(() => OverlayRules.Render("t", ["x\"; flush ruleset"], [], 4789));
        Assert.Throws<NodeException>(() => OverlayRules.Render("t", ["tba"], [], 0));
    }

    [Fact]
    public void Vxlan_ids_and_macs_are_stable_and_distinct()
    {
        Assert.Equal(ClusterOverlay.VniOf("front"), ClusterOverlay.VniOf("front"));
        Assert.NotEqual(ClusterOverlay.VniOf("front"), ClusterOverlay.VniOf("back"));
        Assert.InRange(ClusterOverlay.VniOf("front"), 1u, 0xffffffu);
        Assert.Equal("0A580A580101", Convert.ToHexString(ClusterOverlay.MacOf(Ipv4Subnet.Parse("10.88.1.0/24"))));
    }
}
