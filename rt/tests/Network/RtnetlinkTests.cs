using System.Net;
using Tinyo.Rt.Network;

namespace Tinyo.Rt.Tests.Network;

/// <summary>rtnetlink against the real kernel, inside network namespaces the tests make.</summary>
public sealed class RtnetlinkTests
{
    private static string Inode(string path) => new FileInfo(path).LinkTarget ?? File.ResolveLinkTarget(path, false)?.FullName ?? "";

    [Fact]
    public void A_netlink_socket_made_on_the_netns_thread_lives_in_that_namespace_and_the_caller_stays_home()
    {
        var before = Inode("/proc/thread-self/ns/net");
        using var s = new NetnsScratch();
        s.Host.Netlink.CreateBridge("tyt0");
        var inside = s.Host.Netlink.ListLinks().Select(l => l.Name).ToList();
        Assert.Equal(["lo", "tyt0"], inside.Order());
        using var home = Rtnetlink.OpenCurrent();
        Assert.DoesNotContain(home.ListLinks(), l => l.Name == "tyt0");
        Assert.Equal(before, Inode("/proc/thread-self/ns/net"));
        // The namespace thread went back too: a namespace opened from it again is the one we made, not where it was.
        using var again = NetworkNamespace.Open(s.Host.Path);
        Assert.Contains(again.Netlink.ListLinks(), l => l.Name == "tyt0");
    }

    [Fact]
    public void A_cluster_bridge_keeps_its_own_hardware_address_while_ports_come_and_go()
    {
        using var s = new NetnsScratch();
        var nl = s.Host.Netlink;
        int br = ClusterBridge.Ensure(nl, "tyb9", IPAddress.Parse("10.77.9.1"), 24);
        var mac = Convert.ToHexString(ClusterBridge.MacFor("tyb9"));
        Assert.Equal(mac, nl.GetLink("tyb9").Mac);
        // Ports with lower and higher addresses join and leave (a pool's waiting ends do all day): no change.
        for (int i = 0; i < 4; i++) nl.CreateVethPair($"tyv9{i}", $"tyw9{i}", master: br);
        Assert.Equal(mac, nl.GetLink("tyb9").Mac);
        for (int i = 0; i < 3; i++) nl.DeleteLink($"tyv9{i}");
        Assert.Equal(mac, nl.GetLink("tyb9").Mac);
        // A bridge made without one (an older node's) gets it at the next Ensure.
        nl.CreateBridge("tyb8");
        nl.CreateVethPair("tyv80", "tyw80", master: nl.LinkIndex("tyb8"));
        ClusterBridge.Ensure(nl, "tyb8", IPAddress.Parse("10.77.8.1"), 24);
        Assert.Equal(Convert.ToHexString(ClusterBridge.MacFor("tyb8")), nl.GetLink("tyb8").Mac);
        nl.DeleteLink("tyv80");
        Assert.Equal(Convert.ToHexString(ClusterBridge.MacFor("tyb8")), nl.GetLink("tyb8").Mac);
    }

    [Fact]
    public void Bridge_veth_addresses_routes_mtu_rename_move_and_delete()
    {
        using var s = new NetnsScratch();
        var nl = s.Host.Netlink;
        int br = ClusterBridge.Ensure(nl, "tyb0", IPAddress.Parse("10.77.1.1"), 24, 1400);
        Assert.Equal(br, ClusterBridge.Ensure(nl, "tyb0", IPAddress.Parse("10.77.1.1"), 24)); // idempotent
        var bridge = nl.GetLink("tyb0");
        Assert.Equal("bridge", bridge.Kind);
        Assert.True(bridge.Up);
        Assert.Equal(1400, bridge.Mtu);
        Assert.Single(nl.ListAddresses(), a => a.Index == br && a.ToString() == "10.77.1.1/24");

        // A pair with both ends here: MTU, master, rename (down), up/down.
        nl.CreateVethPair("tva", "tvb", master: br);
        var a = nl.GetLink("tva");
        Assert.Equal("veth", a.Kind);
        Assert.Equal(br, a.Master);
        Assert.True(a.Up);
        int b = nl.LinkIndex("tvb");
        Assert.Equal(b, a.Link);
        Assert.False(nl.GetLink("tvb").Up);
        nl.SetUp(b, true);
        Assert.True(nl.GetLink("tvb").Up);
        nl.SetMtu(b, 1300);
        Assert.Equal(1300, nl.GetLink("tvb").Mtu);
        nl.SetUp(b, false);
        Assert.False(nl.GetLink("tvb").Up);
        nl.Rename(b, "tvc");
        Assert.Null(nl.FindLink("tvb"));
        Assert.Equal(b, nl.LinkIndex("tvc"));
        nl.SetMaster(a.Index, 0);
        Assert.Equal(0, nl.GetLink("tva").Master);

        // Move one end into another namespace under a new name; address and route it there.
        using var other = NetworkNamespace.Create(s.PathOf("other"));
        nl.MoveToNamespace(b, other.Fd, "eth1");
        Assert.Null(nl.FindLink("tvc"));
        int eth1 = other.Netlink.LinkIndex("eth1");
        other.Netlink.SetUp(eth1, true);
        other.Netlink.AddAddress(eth1, IPAddress.Parse("10.77.2.5"), 24);
        other.Netlink.AddRoute(IPAddress.Parse("10.99.0.0"), 16, IPAddress.Parse("10.77.2.1"), eth1);
        other.Netlink.AddRoute(null, 0, IPAddress.Parse("10.77.2.1"), eth1);
        Assert.Single(other.Netlink.ListAddresses(), x => x.Index == eth1 && x.ToString() == "10.77.2.5/24");
        var routes = Run("nsenter", $"--net={other.Path}", "ip", "-4", "route");
        Assert.Contains("default via 10.77.2.1 dev eth1", routes);
        Assert.Contains("10.99.0.0/16 via 10.77.2.1 dev eth1", routes);

        // Deleting one end takes the pair.
        nl.DeleteLink("tva");
        Assert.Null(other.Netlink.FindLink("eth1"));
        Assert.True(ClusterBridge.Remove(nl, "tyb0"));
        Assert.False(ClusterBridge.Remove(nl, "tyb0"));
        Assert.Equal(["lo"], nl.ListLinks().Select(l => l.Name));
    }

    [Fact]
    public void Refusals_name_the_operation_and_the_errno()
    {
        using var s = new NetnsScratch();
        var nl = s.Host.Netlink;
        nl.CreateBridge("tyb1");
        var dup = Assert.Throws<NetlinkException>(() => nl.CreateBridge("tyb1"));
        Assert.Equal(17, dup.Errno);
        Assert.Contains("creating bridge tyb1", dup.Message);
        Assert.Contains("File exists", dup.Message);
        var missing = Assert.Throws<NetlinkException>(() => nl.DeleteLink("tynone"));
        Assert.Equal(19, missing.Errno);
        Assert.Contains("deleting link tynone", missing.Message);
        Assert.False(nl.TryDeleteLink("tynone"));
        int br = nl.LinkIndex("tyb1");
        nl.AddAddress(br, IPAddress.Parse("10.77.3.1"), 24);
        var twice = Assert.Throws<NetlinkException>(() => nl.AddAddress(br, IPAddress.Parse("10.77.3.1"), 24));
        Assert.Contains("adding address 10.77.3.1/24", twice.Message);
        // A gateway outside every connected subnet: the kernel says why (extended ack) and the message keeps it.
        var route = Assert.Throws<NetlinkException>(() => nl.AddRoute(null, 0, IPAddress.Parse("192.0.2.1"), br));
        Assert.Contains("adding route default via 192.0.2.1", route.Message);
        Assert.Throws<RtException>(() => nl.CreateBridge("a-name-longer-than-15"));
        Assert.Throws<RtException>(() => nl.CreateBridge("bad/name"));
        Assert.Throws<RtException>(() => nl.AddAddress(br, IPAddress.IPv6Loopback, 64));
    }

    [Fact]
    public void A_replica_namespace_gets_eth0_lo_address_and_default_route_and_leaves_nothing_on_removal()
    {
        using var s = new NetnsScratch();
        var nl = s.Host.Netlink;
        int br = ClusterBridge.Ensure(nl, "tyb2", IPAddress.Parse("10.77.4.1"), 24);
        var spec = new ReplicaNetworkSpec(s.PathOf("r1"), VethName.For("app-1"), br, IPAddress.Parse("10.77.4.2"), 24, IPAddress.Parse("10.77.4.1"));
        ReplicaNetwork.Prepare(nl, spec);
        using (var r = NetworkNamespace.Open(spec.NetnsPath))
        {
            var links = r.Netlink.ListLinks();
            Assert.True(links.Single(l => l.Name == "lo").Up);
            var eth0 = links.Single(l => l.Name == "eth0");
            Assert.True(eth0.Up);
            Assert.Contains(r.Netlink.ListAddresses(), a => a.Index == eth0.Index && a.ToString() == "10.77.4.2/24");
            Assert.Contains("default via 10.77.4.1 dev eth0", Run("nsenter", $"--net={spec.NetnsPath}", "ip", "-4", "route"));
        }
        Assert.Equal(br, nl.GetLink(spec.HostVeth).Master);
        // The replica reaches the bridge's address (a real packet over the veth and the bridge).
        Run("nsenter", $"--net={spec.NetnsPath}", "busybox", "ping", "-c", "1", "-W", "2", "10.77.4.1");

        Assert.True(ReplicaNetwork.Remove(nl, spec.NetnsPath, spec.HostVeth));
        Assert.False(File.Exists(spec.NetnsPath));
        Assert.Null(nl.FindLink(spec.HostVeth));
        Assert.False(ReplicaNetwork.Remove(nl, spec.NetnsPath, spec.HostVeth)); // idempotent
    }

    [Fact]
    public void A_failed_preparation_leaves_no_namespace_file_and_no_veth()
    {
        using var s = new NetnsScratch();
        var nl = s.Host.Netlink;
        var spec = new ReplicaNetworkSpec(s.PathOf("r2"), "tvfail", 9999, IPAddress.Parse("10.77.5.2"), 24, IPAddress.Parse("10.77.5.1"));
        var e = Assert.Throws<NetlinkException>(() => ReplicaNetwork.Prepare(nl, spec));
        Assert.Contains("creating veth pair tvfail/eth0", e.Message);
        Assert.False(File.Exists(spec.NetnsPath));
        Assert.Null(nl.FindLink("tvfail"));
        // A gateway the kernel refuses (outside the subnet): fails after the veth exists, which goes again.
        int br = ClusterBridge.Ensure(nl, "tyb3", IPAddress.Parse("10.77.6.1"), 24);
        var bad = spec with { BridgeIndex = br, Address = IPAddress.Parse("10.77.6.2"), Gateway = IPAddress.Parse("192.0.2.1") };
        Assert.Throws<NetlinkException>(() => ReplicaNetwork.Prepare(nl, bad));
        Assert.False(File.Exists(spec.NetnsPath));
        Assert.Null(nl.FindLink("tvfail"));
        Assert.Equal(["lo", "tyb3"], nl.ListLinks().Select(l => l.Name).Order());
        // An existing file is refused before anything is made.
        File.WriteAllText(spec.NetnsPath, "");
        Assert.Throws<RtException>(() => ReplicaNetwork.Prepare(nl, spec with { BridgeIndex = br }));
        Assert.Null(nl.FindLink("tvfail"));
    }

    [Fact]
    public void Veth_names_are_stable_short_and_distinct()
    {
        Assert.Equal(VethName.For("web-1"), VethName.For("web-1"));
        Assert.NotEqual(VethName.For("web-1"), VethName.For("web-2"));
        Assert.Equal(14, VethName.For("a-very-long-replica-identifier-0").Length);
        Assert.StartsWith("tv", VethName.For("x"));
    }

    internal static string Run(string file, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(20_000))
        {
            p.Kill();
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish");
        }
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {o.Result}{e.Result}");
        return o.Result;
    }
}
