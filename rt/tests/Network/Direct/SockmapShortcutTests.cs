using System.Net;
using Tinyo.Rt.Network.Direct;

namespace Tinyo.Rt.Tests.Network.Direct;

/// <summary>The eBPF TCP shortcut on the real kernel: two replica namespaces on one bridge, processes in cluster cgroups.</summary>
public sealed class SockmapShortcutTests
{
    private const int Bytes = 1 << 20;
    private static readonly IPNetwork Subnet = IPNetwork.Parse("10.88.0.0/24");

    [SkippableFact]
    [Trait("Category", "Security")]
    public void A_cluster_connection_goes_socket_to_socket_and_another_cluster_is_never_redirected()
    {
        Skip.If(DirectScratch.Missing is not null, DirectScratch.Missing);
        using var d = new DirectScratch();
        using var one = SockmapShortcut.TryAttach(d.Cluster1, Subnet, out var why);
        Skip.If(one is null, $"this kernel cannot run the shortcut: {why}");
        using var two = SockmapShortcut.TryAttach(d.Cluster2, Subnet, out why);
        Assert.NotNull(two);
        Assert.Equal([one.SockOpsId], BpfObjects.SockOpsAttached(d.Cluster1));

        d.Serve(d.Cluster1, d.NsB, "serve tcp 5000");
        long rx0 = DirectScratch.RxBytes(d.NsB);
        Assert.Equal($"ok {Bytes}", d.Run(d.Cluster1, d.NsA, $"check tcp {DirectScratch.AddressB}:5000 {Bytes}"));
        long rx1 = DirectScratch.RxBytes(d.NsB);
        var c = one.ReadCounters();
        Assert.Equal(2UL, c.Sockets);                 // both ends of the connection
        Assert.True(c.Redirected >= 2 * Bytes / 1024 / 2, $"messages redirected: {c.Redirected}");
        Assert.True(c.RedirectedBytes >= 2UL * Bytes, $"bytes redirected: {c.RedirectedBytes}");
        Assert.True(rx1 - rx0 < Bytes / 8, $"{rx1 - rx0} bytes crossed the veth for a {Bytes}-byte echo");

        // A client of cluster 2 (its own shortcut) to the same server of cluster 1: the normal path, both ways.
        Assert.Equal($"ok {Bytes}", d.Run(d.Cluster2, d.NsA, $"check tcp {DirectScratch.AddressB}:5000 {Bytes}"));
        long rx2 = DirectScratch.RxBytes(d.NsB);
        var after = one.ReadCounters();
        Assert.Equal(c.Redirected, after.Redirected);
        Assert.Equal(3UL, after.Sockets); // the server's end of the second connection: in map 1, with no peer there
        Assert.Equal(0UL, two.ReadCounters().Redirected);
        Assert.Equal(1UL, two.ReadCounters().Sockets);
        Assert.True(rx2 - rx1 >= Bytes, $"only {rx2 - rx1} bytes crossed the veth for a cross-cluster {Bytes}-byte echo");
    }

    [SkippableFact]
    [Trait("Category", "Security")]
    public void Dispose_detaches_and_the_kernel_frees_every_program_and_map()
    {
        Skip.If(DirectScratch.Missing is not null, DirectScratch.Missing);
        using var d = new DirectScratch();
        var s = SockmapShortcut.TryAttach(d.Cluster1, Subnet, out var why);
        Skip.If(s is null, $"this kernel cannot run the shortcut: {why}");
        uint[] progs = [s.SockOpsId, s.SkMsgId], maps = [s.SockhashId, s.CountersId];
        Assert.All(progs, id => Assert.True(BpfObjects.Exists(id, map: false)));
        Assert.All(maps, id => Assert.True(BpfObjects.Exists(id, map: true)));
        var listed = BpfObjects.List(maps: false);
        Assert.Contains(listed, e => e.Id == s.SockOpsId && e.Name == "tinyo_sockops");
        Assert.Contains(listed, e => e.Id == s.SkMsgId && e.Name == "tinyo_skmsg");
        Assert.Contains(BpfObjects.List(maps: true), e => e.Id == s.SockhashId && e.Name == "tinyo_socks");

        // A connection while attached puts its sockets in the map. The node removes a cluster's shortcut after its
        // containers are gone: the two processes end first (their sockets leave the map as they close).
        var server = d.Serve(d.Cluster1, d.NsB, "serve tcp 5001");
        var client = d.Start(d.Cluster1, d.NsA, $"rtt tcp {DirectScratch.AddressB}:5001 1024 200000");
        Assert.True(SpinUntil(() => s.Sockets().Count == 2), "the connection's two sockets never showed in the map");
        var ends = s.Sockets();
        Assert.Contains(ends, e => e.Remote.Equals(IPEndPoint.Parse($"{DirectScratch.AddressB}:5001")));
        Assert.Contains(ends, e => e.Local.Equals(IPEndPoint.Parse($"{DirectScratch.AddressB}:5001")));
        client.Kill();
        server.Kill();
        client.WaitForExit();
        server.WaitForExit();
        Assert.True(SpinUntil(() => s.Sockets().Count == 0), "closed sockets stayed in the map");

        s.Dispose();
        s.Dispose(); // idempotent
        Assert.Empty(BpfObjects.SockOpsAttached(d.Cluster1));
        Assert.True(SpinUntil(() => !progs.Any(id => BpfObjects.Exists(id, false)) && !maps.Any(id => BpfObjects.Exists(id, true))),
            "a program or map of the shortcut is still loaded after Dispose");
    }

    [Fact]
    public void A_directory_that_is_not_cgroup_v2_is_a_clear_error_and_leaves_nothing()
    {
        var before = BpfObjects.List(maps: true).Count(e => e.Name == "tinyo_socks");
        var e = Assert.Throws<RtException>(() => SockmapShortcut.TryAttach("/tmp", null, out _));
        Assert.Contains("not a cgroup v2 directory", e.Message);
        Assert.Throws<RtException>(() => SockmapShortcut.TryAttach("/nonexistent-cgroup", null, out _));
        Assert.Equal(before, BpfObjects.List(maps: true).Count(x => x.Name == "tinyo_socks"));
    }

    private static bool SpinUntil(Func<bool> ok)
    {
        for (int i = 0; i < 100; i++)
        {
            if (ok()) return true;
            Thread.Sleep(50);
        }
        return ok();
    }
}
