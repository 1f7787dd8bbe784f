using System.Net;
using System.Net.Sockets;
using Tinyo.Rt.Network;

namespace Tinyo.Rt.Tests.Network;

/// <summary>Namespaces made ahead (<see cref="ReplicaNetworkPool"/>), against the real kernel, in a test's own "host"
/// namespace.</summary>
public sealed class ReplicaNetworkPoolTests
{
    private static readonly IPAddress Gw = IPAddress.Parse("10.78.1.1");

    private static ReplicaNetworkSpec Spec(NetnsScratch s, int br, int n) =>
        new(s.PathOf($"r{n}"), VethName.For($"pool-{n}"), br, IPAddress.Parse($"10.78.1.{n + 1}"), 24, Gw);

    private static string[] PoolLinks(Rtnetlink nl) =>
        [.. nl.ListLinks().Where(l => l.Name.StartsWith(ReplicaNetworkPool.PoolPrefix, StringComparison.Ordinal)).Select(l => l.Name)];

    private static int NsfsMounts() => File.ReadAllLines("/proc/self/mountinfo").Count(l => l.Contains(" - nsfs ", StringComparison.Ordinal));

    private static void WaitFor(Func<bool> cond, string what, int seconds = 30)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!cond())
        {
            if (DateTime.UtcNow > until) Assert.Fail($"timed out after {seconds} s waiting for {what}");
            Thread.Sleep(20);
        }
    }

    [Fact]
    public void A_pooled_setup_is_what_a_cold_one_makes_two_replicas_talk_tcp_and_removal_leaves_nothing()
    {
        using var s = new NetnsScratch();
        var nl = s.Host.Netlink;
        int br = ClusterBridge.Ensure(nl, "typ1", Gw, 24);
        var a = Spec(s, br, 1);
        var b = Spec(s, br, 2);
        using (var pool = new ReplicaNetworkPool(2, s.Host.Path, refillInBackground: false))
        {
            Assert.Equal(2, pool.Fill());
            Assert.Equal(2, PoolLinks(nl).Length);
            Assert.True(pool.Prepare(nl, a).Pooled);
            Assert.True(pool.Prepare(nl, b).Pooled);
            Assert.Equal(2, pool.Claimed);
            Assert.Empty(PoolLinks(nl)); // both renamed to the replicas' names
        }
        foreach (var spec in new[] { a, b })
        {
            var host = nl.GetLink(spec.HostVeth);
            Assert.Equal(br, host.Master);
            Assert.True(host.Up);
            using var r = NetworkNamespace.Open(spec.NetnsPath);
            var links = r.Netlink.ListLinks();
            Assert.True(links.Single(l => l.Name == "lo").Up);
            var eth0 = links.Single(l => l.Name == "eth0");
            Assert.True(eth0.Up);
            Assert.Contains(r.Netlink.ListAddresses(), x => x.Index == eth0.Index && x.Address.Equals(spec.Address) && x.PrefixLength == 24);
            Assert.Contains("default via 10.78.1.1 dev eth0", RtnetlinkTests.Run("nsenter", $"--net={spec.NetnsPath}", "ip", "-4", "route"));
        }
        // A real TCP exchange between the two replicas over their veths and the bridge.
        using (var ra = NetworkNamespace.Open(a.NetnsPath))
        using (var rb = NetworkNamespace.Open(b.NetnsPath))
        using (var listener = ra.CreateSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        using (var client = rb.CreateSocket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            listener.Bind(new IPEndPoint(a.Address, 0));
            listener.Listen(1);
            client.ReceiveTimeout = 5000;
            client.Connect((IPEndPoint)listener.LocalEndPoint!);
            using var served = listener.Accept();
            served.Send("pong"u8);
            var buf = new byte[4];
            Assert.Equal(4, client.Receive(buf));
            Assert.Equal("pong"u8.ToArray(), buf);
            Assert.Equal(b.Address, ((IPEndPoint)served.RemoteEndPoint!).Address);
        }
        Assert.True(ReplicaNetwork.Remove(nl, a.NetnsPath, a.HostVeth));
        Assert.True(ReplicaNetwork.Remove(nl, b.NetnsPath, b.HostVeth));
        Assert.Equal(["lo", "typ1"], nl.ListLinks().Select(l => l.Name).Order());
        Assert.Equal([s.Host.Path], Directory.GetFiles(s.Dir));
    }

    [Fact]
    public void A_pool_made_for_a_bridge_waits_on_it_down_and_claims_for_another_bridge_move_there()
    {
        using var s = new NetnsScratch();
        var nl = s.Host.Netlink;
        int br = ClusterBridge.Ensure(nl, "typ4", Gw, 24);
        int other = ClusterBridge.Ensure(nl, "typ5", IPAddress.Parse("10.78.2.1"), 24);
        var a = Spec(s, br, 1);
        var b = new ReplicaNetworkSpec(s.PathOf("o1"), VethName.For("other-1"), other, IPAddress.Parse("10.78.2.2"), 24, IPAddress.Parse("10.78.2.1"));
        try
        {
            using var pool = new ReplicaNetworkPool(2, s.Host.Path, refillInBackground: false, bridgeIndex: br);
            pool.Fill();
            var waiting = nl.ListLinks().Where(l => l.Name.StartsWith(ReplicaNetworkPool.PoolPrefix, StringComparison.Ordinal)).ToList();
            Assert.Equal(2, waiting.Count);
            Assert.All(waiting, l => Assert.Equal((br, false), (l.Master, l.Up)));
            Assert.True(pool.Prepare(nl, a).Pooled);
            Assert.True(pool.Prepare(nl, b).Pooled);
            Assert.Equal((br, true), (nl.GetLink(a.HostVeth).Master, nl.GetLink(a.HostVeth).Up));
            Assert.Equal((other, true), (nl.GetLink(b.HostVeth).Master, nl.GetLink(b.HostVeth).Up));
            RtnetlinkTests.Run("nsenter", $"--net={b.NetnsPath}", "busybox", "ping", "-c", "1", "-W", "2", "10.78.2.1");
        }
        finally
        {
            ReplicaNetwork.Remove(nl, a.NetnsPath, a.HostVeth);
            ReplicaNetwork.Remove(nl, b.NetnsPath, b.HostVeth);
        }
        Assert.Equal(["lo", "typ4", "typ5"], nl.ListLinks().Select(l => l.Name).Order());
    }

    [Fact]
    public void An_empty_pool_falls_back_to_a_cold_setup_and_fill_and_the_background_refill_top_it_up()
    {
        using var s = new NetnsScratch();
        var nl = s.Host.Netlink;
        int br = ClusterBridge.Ensure(nl, "typ2", Gw, 24);
        var made = new List<ReplicaNetworkSpec>();
        try
        {
            using (var pool = new ReplicaNetworkPool(2, s.Host.Path, refillInBackground: false))
            {
                pool.Fill();
                for (int i = 1; i <= 3; i++)
                {
                    var spec = Spec(s, br, i);
                    var t = pool.Prepare(nl, spec);
                    made.Add(spec);
                    Assert.Equal(i <= 2, t.Pooled);
                }
                Assert.Equal((2, 1, 0), (pool.Claimed, pool.FellBack, pool.Available));
                // A non-default MTU is not what pooled pairs have: made on the spot even with entries ready.
                Assert.Equal(2, pool.Fill());
                var mtu = Spec(s, br, 4) with { Mtu = 1400 };
                Assert.False(pool.Prepare(nl, mtu).Pooled);
                made.Add(mtu);
                Assert.Equal(1400, nl.GetLink(mtu.HostVeth).Mtu);
                Assert.Equal(2, pool.Available);
            }
            using (var pool = new ReplicaNetworkPool(3, s.Host.Path))
            {
                WaitFor(() => pool.Available == 3, "the background refill to fill the pool");
                var spec = Spec(s, br, 5);
                Assert.True(pool.Prepare(nl, spec).Pooled);
                made.Add(spec);
                WaitFor(() => pool.Available == 3, "the background refill to top the pool up after a claim");
                Assert.Null(pool.LastRefillError);
                Assert.Equal(3, PoolLinks(nl).Length);
            }
            Assert.Empty(PoolLinks(nl));
            foreach (var m in made) Assert.Equal(br, nl.GetLink(m.HostVeth).Master);
        }
        finally
        {
            foreach (var m in made) ReplicaNetwork.Remove(nl, m.NetnsPath, m.HostVeth);
        }
        Assert.Equal(["lo", "typ2"], nl.ListLinks().Select(l => l.Name).Order());
    }

    [Fact]
    public void Dispose_deletes_every_pooled_namespace_and_veth_and_nothing_pooled_is_mounted()
    {
        using var s = new NetnsScratch();
        var nl = s.Host.Netlink;
        int mountsBefore = NsfsMounts();
        var pool = new ReplicaNetworkPool(4, s.Host.Path);
        try
        {
            WaitFor(() => pool.Available == 4, "the pool to fill");
            Assert.Equal(4, PoolLinks(nl).Length);
            // Pooled namespaces live by their descriptors only: a crash cannot leave a mount behind.
            Assert.Equal(mountsBefore, NsfsMounts());
        }
        finally
        {
            pool.Dispose();
        }
        Assert.Empty(PoolLinks(nl));
        Assert.Equal(["lo"], nl.ListLinks().Select(l => l.Name));
        Assert.Throws<ObjectDisposedException>(() => pool.Prepare(nl, Spec(s, 1, 1)));
        Assert.False(File.Exists(s.PathOf("r1")));
    }

    [Fact]
    public void Pooled_namespaces_whose_descriptors_close_as_at_process_death_take_their_veths_along()
    {
        using var s = new NetnsScratch();
        var nl = s.Host.Netlink;
        using var pool = new ReplicaNetworkPool(3, s.Host.Path, refillInBackground: false);
        pool.Fill();
        Assert.Equal(3, PoolLinks(nl).Length);
        pool.AbandonForTest(); // closes the fds and sockets only, as the kernel does for a killed process
        // The kernel's namespace clean-up runs asynchronously (a work queue): wait for it.
        WaitFor(() => PoolLinks(nl).Length == 0, "the kernel to destroy the abandoned namespaces and their veths", 60);
        Assert.Equal(["lo"], nl.ListLinks().Select(l => l.Name));
    }

    [Fact]
    public void A_failed_claim_leaves_no_file_no_link_and_does_not_return_the_entry()
    {
        using var s = new NetnsScratch();
        var nl = s.Host.Netlink;
        int br = ClusterBridge.Ensure(nl, "typ3", Gw, 24);
        using var pool = new ReplicaNetworkPool(3, s.Host.Path, refillInBackground: false);
        pool.Fill();
        // The host name is taken: the rename is refused (EEXIST), the pooled pair is deleted.
        nl.CreateVethPair("tvtaken", "tvtakenp");
        var spec = Spec(s, br, 1) with { HostVeth = "tvtaken" };
        var e = Assert.Throws<NetlinkException>(() => pool.Prepare(nl, spec));
        Assert.Contains("attaching pooled veth", e.Message);
        Assert.False(File.Exists(spec.NetnsPath));
        Assert.Equal(2, PoolLinks(nl).Length);
        // The gateway is outside the subnet: the route is refused after the rename; the renamed veth goes too.
        var bad = Spec(s, br, 2) with { Gateway = IPAddress.Parse("192.0.2.1") };
        Assert.Throws<NetlinkException>(() => pool.Prepare(nl, bad));
        Assert.False(File.Exists(bad.NetnsPath));
        Assert.Null(nl.FindLink(bad.HostVeth));
        Assert.Single(PoolLinks(nl));
        // The namespace file exists already: refused before any link changes.
        var taken = Spec(s, br, 3);
        File.WriteAllText(taken.NetnsPath, "");
        Assert.Throws<RtException>(() => pool.Prepare(nl, taken));
        Assert.Null(nl.FindLink(taken.HostVeth));
        File.Delete(taken.NetnsPath);
        Assert.Equal(0, pool.Available);
        Assert.Empty(PoolLinks(nl));
        Assert.Equal(["lo", "tvtaken", "tvtakenp", "typ3"], nl.ListLinks().Select(l => l.Name).Order());
        // A bad name is refused before an entry is taken.
        pool.Fill();
        Assert.Throws<RtException>(() => pool.Prepare(nl, Spec(s, br, 4) with { HostVeth = "bad/name" }));
        Assert.Equal(3, pool.Available);
        Assert.Throws<RtException>(() => new ReplicaNetworkPool(0, s.Host.Path));
    }
}
