using System.Net;
using Tinyo.Node.Direct;
using Tinyo.Rt.Network.Direct;

namespace Tinyo.Node.Tests.Direct;

/// <summary>
/// The node's per-cluster cgroup v2 directories and eBPF shortcuts against the real kernel: a directory per cluster,
/// the shortcut attached at the second replica and only to its own cluster's directory, the path each reports,
/// what a killed node left detached, and nothing left after removal and stop.
/// </summary>
public sealed class ClusterShortcutsTests : IDisposable
{
    private readonly string? unified = ClusterShortcuts.HybridUnifiedMount(out _);
    private readonly string parent;
    private readonly List<string> log = [];
    private readonly string nodeRoot = Directory.CreateTempSubdirectory("tinyo-shortcuts-").FullName;

    public ClusterShortcutsTests()
        => parent = unified is null ? "" : Path.Combine(unified, "tinyo-test-shortcuts-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(parent))
            foreach (var d in Directory.GetDirectories(parent, "*", SearchOption.AllDirectories).Reverse().Append(parent))
                try { Directory.Delete(d); } catch (IOException) { }
        Directory.Delete(nodeRoot, true);
    }

    private ClusterShortcuts New()
    {
        Directory.CreateDirectory(parent);
        return new ClusterShortcuts(nodeRoot, c => IPNetwork.Parse(c == "front" ? "10.88.0.0/24" : "10.88.1.0/24"), log.Add, parent);
    }

    [SkippableFact]
    public void One_directory_per_cluster_the_shortcut_from_the_second_replica_and_nothing_left()
    {
        Skip.If(Environment.UserName != "root", "needs root (cgroups, bpf)");
        Skip.If(unified is null, "no cgroup2 tree beside v1 controllers on this host");
        var s = New();
        var front = s.Prepare("front", 1)!;
        var back = s.Prepare("back", 1)!;
        Assert.True(File.Exists(Path.Combine(front, "cgroup.controllers")), "not a cgroup v2 directory");
        Assert.NotEqual(front, back);
        Assert.StartsWith(s.Root!, front);
        Assert.Equal("bridge (" + ClusterShortcuts.Alone + ")", s.PathOf("front").ToString());
        Assert.Empty(BpfObjects.SockOpsAttached(front));

        Assert.Equal(front, s.Prepare("front", 2));
        var view = s.PathOf("front");
        var shortcut = s.ShortcutOf("front");
        if (shortcut is null)
        {
            // A kernel without sockmap/sk_msg: the cluster stays on the bridge and says why.
            Assert.StartsWith("bridge (kernel: ", view.ToString());
            Skip.If(true, $"this kernel cannot run the shortcut: {view.Why}");
        }
        Assert.Equal("shortcut", view.ToString());
        Assert.Equal([shortcut!.SockOpsId], BpfObjects.SockOpsAttached(front));
        Assert.Empty(BpfObjects.SockOpsAttached(back)); // only its own cluster's directory
        s.Prepare("front", 3); // attached once
        Assert.Single(BpfObjects.SockOpsAttached(front));
        uint ops = shortcut.SockOpsId, hash = shortcut.SockhashId;

        s.Remove("front");
        Assert.False(Directory.Exists(front));
        Assert.Equal("bridge (cluster removed from this node)", view.ToString());
        Assert.True(Gone(ops, hash), "the shortcut's program or map outlived the cluster");
        Assert.True(Directory.Exists(back));
        s.Stop();
        Assert.False(Directory.Exists(back));
        Assert.False(Directory.Exists(s.Root));
    }

    [SkippableFact]
    public void A_program_a_killed_node_left_on_the_directory_is_detached_before_the_new_one()
    {
        Skip.If(Environment.UserName != "root", "needs root (cgroups, bpf)");
        Skip.If(unified is null, "no cgroup2 tree beside v1 controllers on this host");
        var first = New();
        var dir = first.Prepare("front", 1)!;
        // What the dead node left: a shortcut attached to the directory that nobody will dispose.
        using var left = SockmapShortcut.TryAttach(dir, IPNetwork.Parse("10.88.0.0/24"), out var why);
        Skip.If(left is null, $"this kernel cannot run the shortcut: {why}");
        Assert.Equal([left!.SockOpsId], BpfObjects.SockOpsAttached(dir));

        var second = New(); // the node again, after kill -9
        Assert.Equal(dir, second.Prepare("front", 2));
        var now = BpfObjects.SockOpsAttached(dir);
        Assert.DoesNotContain(left.SockOpsId, now);
        Assert.Equal([second.ShortcutOf("front")!.SockOpsId], now);
        Assert.Contains(log, l => l.Contains($"detached sock_ops program {left.SockOpsId}"));
        second.Stop();
        Assert.False(Directory.Exists(dir));
    }

    /// <summary>Whether both are gone within 5 s (the kernel frees them after an RCU grace period).</summary>
    private static bool Gone(uint prog, uint map)
    {
        for (int i = 0; i < 100; i++)
        {
            if (!BpfObjects.Exists(prog, map: false) && !BpfObjects.Exists(map, map: true)) return true;
            Thread.Sleep(50);
        }
        return false;
    }
}
