using System.Net;
using System.Text;
using Tinyo.Kv.Protocol;
using Tinyo.Node.Network;

namespace Tinyo.Node.Tests.Network;

/// <summary>IPAM against a real tinyokv process.</summary>
public sealed class IpamTests
{
    private static async Task<long> IpamKeyCount(Tinyo.Kv.Client.KvClient c)
    {
        var p = Encoding.UTF8.GetBytes(Ipam.Root);
        return (await c.RangeAsync(new RangeRequest(p, RangeRequest.PrefixEnd(p), CountOnly: true))).Count;
    }

    [Fact]
    public async Task Subnets_and_leases_are_distinct_idempotent_released_and_survive_a_kv_restart()
    {
        await using var kv = await KvProcess.StartAsync();
        // The first node's choice is stored: the two made below with defaults take it from the KV.
        var ipam = new Ipam(kv.Client(), "n1", new IpamOptions { Pool = "10.88.0.0/16", SubnetPrefix = 24 });
        var a = await ipam.SubnetAsync("alpha");
        var b = await ipam.SubnetAsync("beta");
        Assert.Equal("10.88.0.0/24", a.Subnet.ToString());
        Assert.Equal("10.88.1.0/24", b.Subnet.ToString());
        Assert.Equal(IPAddress.Parse("10.88.0.1"), a.Gateway);
        Assert.Equal(a, await ipam.SubnetAsync("alpha"));

        var r1 = await ipam.LeaseAsync("alpha", "web-1");
        var r2 = await ipam.LeaseAsync("alpha", "web-2");
        var r3 = await ipam.LeaseAsync("beta", "db-1");
        Assert.Equal("10.88.0.2", r1.Address.ToString());
        Assert.Equal("10.88.0.3", r2.Address.ToString());
        Assert.Equal("10.88.1.2", r3.Address.ToString());
        Assert.Equal(r1.Address, (await ipam.LeaseAsync("alpha", "web-1")).Address);

        // Another node's IPAM on the same KV never gets a subnet in use.
        var other = new Ipam(kv.Client(), "n2");
        Assert.Equal("10.88.2.0/24", (await other.SubnetAsync("alpha")).Subnet.ToString());

        Assert.True(await ipam.ReleaseAsync("alpha", "web-1"));
        Assert.False(await ipam.ReleaseAsync("alpha", "web-1"));
        Assert.Equal("10.88.0.2", (await ipam.LeaseAsync("alpha", "web-9")).Address.ToString()); // freed address reused

        await kv.RestartAsync(); // SIGKILL: the state is the KV's
        var after = new Ipam(kv.Client(), "n1");
        Assert.Equal(r2.Address, (await after.LeaseAsync("alpha", "web-2")).Address);
        Assert.Equal(["web-2", "web-9"], (await after.LeasesAsync("alpha")).Select(l => l.Replica).Order());

        var refused = await Assert.ThrowsAsync<NodeException>(() => after.ReleaseSubnetAsync("alpha"));
        Assert.Contains("still has 2 address(es) leased", refused.Message);
        await after.ReleaseAsync("alpha", "web-2");
        await after.ReleaseAsync("alpha", "web-9");
        Assert.True(await after.ReleaseSubnetAsync("alpha"));
        Assert.False(await after.ReleaseSubnetAsync("alpha"));
        Assert.Equal("10.88.0.0/24", (await after.SubnetAsync("gamma")).Subnet.ToString()); // the subnet is free again
    }

    [Fact]
    public async Task Concurrent_allocators_never_hand_out_the_same_address_or_subnet()
    {
        await using var kv = await KvProcess.StartAsync();
        const int allocators = 4, perAllocator = 15;
        var tasks = new List<Task<List<ReplicaLease>>>();
        for (int i = 0; i < allocators; i++)
        {
            int me = i;
            var ipam = new Ipam(kv.Client(), "n1");
            tasks.Add(Task.Run(async () =>
            {
                var mine = new List<ReplicaLease>();
                for (int j = 0; j < perAllocator; j++)
                {
                    // Every allocator leases in the shared cluster, and each also in a cluster of its own.
                    mine.Add(await ipam.LeaseAsync("shared", $"s{me}-{j}"));
                    if (j % 5 == 0) mine.Add(await ipam.LeaseAsync($"own{me}", $"o{me}-{j}"));
                }
                return mine;
            }));
        }
        var all = (await Task.WhenAll(tasks)).SelectMany(x => x).ToList();
        Assert.Equal(allocators * perAllocator + allocators * 3, all.Count);
        Assert.Equal(all.Count, all.Select(l => l.Address).Distinct().Count());
        var subnets = all.Select(l => (l.Cluster, l.Subnet.Subnet)).Distinct().ToList();
        Assert.Equal(allocators + 1, subnets.Count);
        Assert.Equal(subnets.Count, subnets.Select(s => s.Subnet).Distinct().Count());
        foreach (var l in all) Assert.True(l.Subnet.Subnet.Contains(Ipv4Subnet.ToUInt(l.Address)));
        // What the KV holds agrees: one address key and one replica key per lease, two keys per subnet.
        Assert.Equal(all.Count * 2 + subnets.Count * 2 + 0L, await IpamKeyCount(kv.Client()));
    }

    [Fact]
    public async Task A_subnet_a_host_route_already_uses_is_skipped_and_a_pool_the_host_fills_is_a_clear_error()
    {
        await using var kv = await KvProcess.StartAsync();
        var c = kv.Client();
        // Routes as /proc/net/route gives them: another bridge on 10.89.0.0/24 (a podman network, a left-over bridge),
        // a narrower route inside 10.89.1.0/24, and the default route (overlaps nothing).
        (string, Ipv4Subnet)[] routes = [("podman0", Ipv4Subnet.Parse("10.89.0.0/24")), ("wg0", Ipv4Subnet.Parse("10.89.1.128/25")), ("eth0", Ipv4Subnet.Parse("0.0.0.0/0"))];
        var ipam = new Ipam(c, "n1", new IpamOptions { Pool = "10.89.0.0/22", SubnetPrefix = 24, InUseOnHost = s => HostRoutes.Overlapping(s, routes) });
        Assert.Equal("10.89.2.0/24", (await ipam.SubnetAsync("a")).Subnet.ToString());
        Assert.Equal("10.89.3.0/24", (await ipam.SubnetAsync("b")).Subnet.ToString());
        long before = await IpamKeyCount(c);
        var full = await Assert.ThrowsAsync<NodeException>(() => ipam.SubnetAsync("c"));
        Assert.Contains("in use on this host: 10.89.0.0/24 (route 10.89.0.0/24 dev podman0), 10.89.1.0/24 (route 10.89.1.128/25 dev wg0)", full.Message);
        Assert.Equal(before, await IpamKeyCount(c));
        // A subnet already leased stays, whatever the host has meanwhile.
        var again = new Ipam(c, "n1", new IpamOptions { Pool = "10.89.0.0/22", SubnetPrefix = 24, InUseOnHost = _ => "everything" });
        Assert.Equal("10.89.2.0/24", (await again.SubnetAsync("a")).Subnet.ToString());
    }

    [Fact]
    public void Host_routes_are_this_namespaces_main_table_as_ip_route_lists_it()
    {
        var psi = new System.Diagnostics.ProcessStartInfo("ip", ["-4", "-o", "route", "show", "table", "main"]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var expected = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')).Select(f => (Dev: f[Array.IndexOf(f, "dev") + 1], Dest: f[0] == "default" ? "0.0.0.0/0" : f[0].Contains('/') ? f[0] : f[0] + "/32"))
            .OrderBy(x => x.Dest).ThenBy(x => x.Dev).ToList();
        p.WaitForExit();
        var read = HostRoutes.Read().Select(r => (r.Dev, Dest: r.Dest.ToString())).OrderBy(x => x.Dest).ThenBy(x => x.Dev).ToList();
        Assert.NotEmpty(read);
        Assert.Equal(expected, read);
        // A route of the host is an overlap of its own subnet (a host with only a default route has none to check).
        foreach (var r in read.Where(r => r.Dest != "0.0.0.0/0").Take(1))
            Assert.StartsWith($"route {r.Dest} dev ", HostRoutes.Overlapping(Ipv4Subnet.Parse(r.Dest), HostRoutes.Read()));
    }

    [Fact]
    public async Task Exhaustion_is_a_clear_error_and_writes_nothing()
    {
        await using var kv = await KvProcess.StartAsync();
        var c = kv.Client();
        // A /29 pool of /30 subnets: two subnets, one replica address each (.1 gateway, .0/.3 network/broadcast).
        var ipam = new Ipam(c, "n1", new IpamOptions { Pool = "10.89.0.0/29", SubnetPrefix = 30 });
        Assert.Equal("10.89.0.2", (await ipam.LeaseAsync("a", "a-1")).Address.ToString());
        Assert.Equal("10.89.0.6", (await ipam.LeaseAsync("b", "b-1")).Address.ToString());
        long before = await IpamKeyCount(c);
        var full = await Assert.ThrowsAsync<NodeException>(() => ipam.LeaseAsync("a", "a-2"));
        Assert.Contains("subnet 10.89.0.0/30 of cluster a is full", full.Message);
        var pool = await Assert.ThrowsAsync<NodeException>(() => ipam.SubnetAsync("c"));
        Assert.Contains("pool 10.89.0.0/29 has no free /30 left for cluster c", pool.Message);
        await Assert.ThrowsAsync<NodeException>(() => ipam.LeaseAsync("c", "c-1"));
        Assert.Equal(before, await IpamKeyCount(c));
    }

    [Fact]
    public async Task Bad_pools_and_names_are_refused_with_the_cause()
    {
        var c = new Tinyo.Kv.Client.KvClient(new Tinyo.Kv.Client.KvClientOptions { Endpoints = [new IPEndPoint(IPAddress.Loopback, 1)], Token = "x" });
        Assert.Contains("is not an IPv4 subnet", Assert.Throws<NodeException>(() => new Ipam(c, "n1", new IpamOptions { Pool = "10.88.0.0" })).Message);
        Assert.Contains("host bits set", Assert.Throws<NodeException>(() => new Ipam(c, "n1", new IpamOptions { Pool = "10.88.0.1/16" })).Message);
        Assert.Contains("does not fit pool", Assert.Throws<NodeException>(() => new Ipam(c, "n1", new IpamOptions { SubnetPrefix = 8 })).Message);
        Assert.Contains("invalid node name", Assert.Throws<NodeException>(() => new Ipam(c, "a/b")).Message);
        var ipam = new Ipam(c, "n1");
        Assert.Contains("invalid cluster name", (await Assert.ThrowsAsync<NodeException>(() => ipam.SubnetAsync(""))).Message);
        Assert.Contains("invalid replica name", (await Assert.ThrowsAsync<NodeException>(() => ipam.LeaseAsync("a", "x y"))).Message);
        await c.DisposeAsync();
    }

    [Fact]
    public async Task The_default_pool_gives_each_node_a_22_and_the_first_choice_is_the_clusters()
    {
        await using var kv = await KvProcess.StartAsync();
        var c = kv.Client();
        var first = new Ipam(c, "n1");
        var a = await first.SubnetAsync("front");
        Assert.Equal("10.200.0.0/22", a.Subnet.ToString());
        Assert.Equal("10.200.0.1", a.Gateway.ToString());
        Assert.Equal(1021, a.Subnet.Size - 3); // 1000 replicas of one cluster fit on one node
        Assert.Equal("10.200.4.0/22", (await first.SubnetAsync("back")).Subnet.ToString());
        Assert.Equal("10.200.0.2", (await first.LeaseAsync("front", "web-1")).Address.ToString());
        var stored = await c.GetAsync(Encoding.UTF8.GetBytes(SubnetPool.Key));
        Assert.Equal("10.200.0.0/16 22", Encoding.UTF8.GetString(stored!.Value));

        // A joiner told nothing uses the cluster's pool; one told the same is fine; one told another refuses, naming both,
        // and writes nothing.
        Assert.Equal("10.200.8.0/22", (await new Ipam(c, "n2").SubnetAsync("front")).Subnet.ToString());
        Assert.Equal("10.200.12.0/22", (await new Ipam(c, "n3", new IpamOptions { Pool = "10.200.0.0/16", SubnetPrefix = 22 }).SubnetAsync("front")).Subnet.ToString());
        long before = await IpamKeyCount(c);
        var other = new Ipam(c, "n4", new IpamOptions { Pool = "10.50.0.0/16" });
        var e = await Assert.ThrowsAsync<NodeException>(() => other.LeaseAsync("front", "web-1"));
        Assert.Contains("this cluster's subnet pool is 10.200.0.0/16 with /22 subnets", e.Message);
        Assert.Contains("given 10.50.0.0/16 with /22", e.Message);
        Assert.Equal(before, await IpamKeyCount(c));
    }

    [Theory]
    [InlineData("10.200.0.0", 22, "is not an IPv4 subnet")]
    [InlineData("10.200.0.1/16", 22, "host bits set")]
    [InlineData("0.0.0.0/0", 22, "larger than a /8")]
    [InlineData("127.0.0.0/16", 24, "overlaps the reserved range 127.0.0.0/8")]
    [InlineData("169.254.0.0/16", 24, "overlaps the reserved range 169.254.0.0/16")]
    [InlineData("224.0.0.0/8", 24, "overlaps the reserved range 224.0.0.0/3")]
    [InlineData("10.200.0.0/16", 31, "subnet prefix /31 does not fit pool 10.200.0.0/16")]
    [InlineData("10.200.0.0/16", 12, "subnet prefix /12 does not fit pool 10.200.0.0/16")]
    [InlineData("fd00::/64", 22, "is not an IPv4 subnet")]
    public void Bad_subnet_pools_name_the_fault(string pool, int prefix, string error)
    {
        Assert.Contains(error, Assert.Throws<NodeException>(() => SubnetPool.Check(pool, prefix)).Message);
    }

    [Fact]
    public void A_good_pool_and_the_stored_form_round_trip()
    {
        var p = SubnetPool.Check("172.30.0.0/15", 20);
        Assert.Equal("172.30.0.0/15 20", SubnetPool.Format(p, 20));
        Assert.Equal((p, 20), SubnetPool.Parse("172.30.0.0/15 20"));
        Assert.Contains("not 'CIDR PREFIX'", Assert.Throws<NodeException>(() => SubnetPool.Parse("172.30.0.0/15")).Message);
    }
}
