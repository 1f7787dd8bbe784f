using System.Net;
using Tinyo.Node.Network;
using Tinyo.Rt.Network;

namespace Tinyo.Node.Tests.Network;

/// <summary>The nftables ruleset: its text, and nft loading and removing it inside a test's own namespace.</summary>
public sealed class IsolationTests
{
    private static readonly IsolatedCluster A = new("alpha", "tya", Ipv4Subnet.Parse("10.66.1.0/24"), IPAddress.Parse("10.66.1.1"));
    private static readonly IsolatedCluster B = new("beta", "tyb", Ipv4Subnet.Parse("10.66.2.0/24"), IPAddress.Parse("10.66.2.1"), Egress: false);

    [Fact]
    public void The_ruleset_drops_between_bridges_and_to_node_ports_and_masquerades_per_cluster()
    {
        var text = IsolationRules.Render([A, B], [7000, 2379]);
        Assert.StartsWith("table inet tinyo {}\ndelete table inet tinyo\ntable inet tinyo {", text);
        Assert.Contains("iifname \"tya\" oifname { \"tyb\" } drop", text);
        Assert.Contains("iifname \"tyb\" oifname { \"tya\" } drop", text);
        Assert.Contains("iifname \"tyb\" oifname != \"tyb\" drop comment \"beta: egress off\"", text);
        Assert.DoesNotContain("alpha: egress off", text);
        Assert.Contains("iifname { \"tya\", \"tyb\" } tcp dport { 2379, 7000 } drop", text);
        Assert.Contains("iifname \"tya\" ip daddr { 10.66.2.1 } drop", text);
        Assert.Contains("ip saddr 10.66.1.0/24 oifname != \"tya\" masquerade", text);
        Assert.DoesNotContain("10.66.2.0/24 oifname", text);
        Assert.Throws<NodeException>(() => IsolationRules.Render([A with { Bridge = "x\" accept #" }], []));
        Assert.Throws<NodeException>(() => IsolationRules.Render([A], [70000]));
    }

    [Fact]
    public async Task Nft_loads_replaces_and_removes_our_table_only()
    {
        var dir = Directory.CreateTempSubdirectory("tinyo-nft-").FullName;
        var ns = Path.Combine(dir, "host");
        try
        {
            NetworkNamespace.Create(ns).Dispose();
            // Someone else's table in the same namespace must survive everything we do.
            Assert.Equal(0, NsExec.Run(ns, "nft", "add", "table", "inet", "other").Code);
            await IsolationTable.ApplyAsync(IsolationRules.Render([A, B], [7000]), ns);
            Assert.True(await IsolationTable.ExistsAsync(netnsPath: ns));
            var listed = NsExec.Run(ns, "nft", "list", "table", "inet", "tinyo").Output;
            Assert.Contains("masquerade", listed);
            Assert.Contains("tcp dport 7000 drop", listed);
            // Applying again replaces (no duplicate rules).
            await IsolationTable.ApplyAsync(IsolationRules.Render([A], [7000]), ns);
            listed = NsExec.Run(ns, "nft", "list", "table", "inet", "tinyo").Output;
            Assert.DoesNotContain("tyb", listed);
            Assert.Single(listed.Split('\n'), l => l.Contains("masquerade"));
            // nft's refusal comes back in its own words.
            var e = await Assert.ThrowsAsync<NodeException>(() => IsolationTable.ApplyAsync("table inet tinyo { chain c { nonsense } }", ns));
            Assert.Contains("nft refused the ruleset", e.Message);
            Assert.True(await IsolationTable.ExistsAsync(netnsPath: ns)); // a refused ruleset changes nothing
            await IsolationTable.RemoveAsync(netnsPath: ns);
            Assert.False(await IsolationTable.ExistsAsync(netnsPath: ns));
            await IsolationTable.RemoveAsync(netnsPath: ns); // idempotent
            Assert.Contains("table inet other", NsExec.Run(ns, "nft", "list", "tables").Output);
        }
        finally
        {
            NetworkNamespace.Remove(ns);
            Directory.Delete(dir, true);
        }
    }
}
