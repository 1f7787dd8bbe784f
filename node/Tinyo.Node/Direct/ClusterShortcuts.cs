using System.Net;
using Tinyo.Rt;
using Tinyo.Rt.Cgroups;
using Tinyo.Rt.Network;
using Tinyo.Rt.Network.Direct;

namespace Tinyo.Node.Direct;

/// <summary>
/// The node's side of the eBPF TCP shortcut (issue 15): each cluster on this node gets a cgroup v2 directory,
/// <c>UNIFIED/tinyo/NODEKEY/CLUSTER</c>, that its containers are born in (<see cref="ClusterCgroup"/>); once two
/// replicas of the cluster run here, the runtime's <see cref="SockmapShortcut"/> is attached to it, so their TCP to
/// each other moves socket to socket. One directory and one map per cluster is the isolation: a socket is only ever
/// redirected to a socket of its own cluster's map.
/// </summary>
/// <remarks>
/// <para>Where the kernel or host cannot (no cgroup2 mount beside v1 controllers, no sockmap or sk_msg, no CAP_BPF),
/// nothing is attached and <see cref="PathOf"/> says <c>bridge</c> with why: the cluster keeps its normal path.
/// On a host whose controllers are cgroup v2 (unified) a process has one v2 cgroup, its container's own, so there
/// is no second directory to be born in: the shortcut is not offered there yet (the containers' cgroups would have to
/// nest under a cluster directory).</para>
/// <para>Lifetime: the directory is made before a replica of the cluster is created or restarted; the shortcut is
/// attached when the second replica is prepared, and detached — programs and maps freed — with the directory when
/// no app of this node is on the cluster any more (<see cref="Remove"/>) or the node stops (<see cref="Stop"/>,
/// after its containers). Programs attached to a cgroup outlive the process that attached them, so a node killed
/// with -9 leaves them: the next node detaches every sock_ops program it finds on a directory before attaching its own.</para>
/// <para>NODEKEY is a hash of the node's directory: two nodes on one host never share a directory.</para>
/// </remarks>
public sealed class ClusterShortcuts
{
    /// <summary>A cluster's path for its replicas' TCP to each other, read when their status is published.</summary>
    public sealed class ClusterPath
    {
        /// <summary><c>shortcut</c> (eBPF, socket to socket) or <c>bridge</c> (veth + bridge).</summary>
        public string Path { get; internal set; } = "bridge";

        /// <summary>Why not the shortcut (null when it is).</summary>
        public string? Why { get; internal set; }

        /// <summary>The sockets the cluster's map holds now (0 on the bridge path).</summary>
        public Func<int> Sockets { get; internal set; } = () => 0;

        /// <summary>What <c>tio ls</c> shows: <c>shortcut</c> or <c>bridge (why)</c>.</summary>
        public override string ToString() => Why is null ? Path : $"{Path} ({Why})";
    }

    private sealed class Cluster(string dir)
    {
        public string Dir { get; } = dir;
        public SockmapShortcut? Shortcut { get; set; }
        public bool Failed { get; set; }
        public ClusterPath View { get; } = new();
    }

    private readonly Func<string, IPNetwork?> subnetOf;
    private readonly Action<string> log;
    private readonly Dictionary<string, Cluster> clusters = new(StringComparer.Ordinal);
    private readonly Lock gate = new();

    /// <summary>Shortcuts of the node whose directory is <paramref name="nodeRoot"/>; <paramref name="subnetOf"/>
    /// gives a cluster's subnet (redirects only between its addresses); <paramref name="cgroup2Root"/> overrides
    /// the detected unified mount (tests).</summary>
    public ClusterShortcuts(string nodeRoot, Func<string, IPNetwork?> subnetOf, Action<string> log, string? cgroup2Root = null)
    {
        this.subnetOf = subnetOf;
        this.log = log;
        string? why = null;
        var mount = cgroup2Root ?? HybridUnifiedMount(out why);
        Unavailable = mount is null ? why : null;
        if (mount is not null) Root = Path.Combine(mount, "tinyo", VethName.For(Path.GetFullPath(nodeRoot))[2..14]);
    }

    /// <summary>This node's directory in the unified tree (the clusters' are below it), or null.</summary>
    public string? Root { get; }

    /// <summary>Why no cluster can have the shortcut on this host, or null.</summary>
    public string? Unavailable { get; }

    /// <summary>Most replicas take the bridge until a second one of their cluster is here.</summary>
    public const string Alone = "one replica of the cluster on this node";

    /// <summary>
    /// Makes the cluster's directory (idempotent) and returns it, for the container to be born in (null: not on
    /// this host). With <paramref name="replicasHere"/> ≥ 2 (the cluster's replicas on this node, this one
    /// included) the shortcut is attached, once; a kernel that refuses is logged and the cluster stays on the bridge.
    /// </summary>
    public string? Prepare(string cluster, int replicasHere)
    {
        if (Root is null) return null;
        lock (gate)
        {
            if (!clusters.TryGetValue(cluster, out var c))
            {
                var dir = Path.Combine(Root, cluster);
                try
                {
                    Directory.CreateDirectory(dir);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new NodeException($"cluster {cluster}: making its cgroup v2 directory {dir}: {e.Message}");
                }
                DetachLeftovers(dir);
                clusters[cluster] = c = new Cluster(dir);
                c.View.Why = Alone;
            }
            if (replicasHere >= 2 && c.Shortcut is null && !c.Failed) Attach(cluster, c);
            return c.Dir;
        }
    }

    /// <summary>The path of the cluster's TCP between its replicas here (a live view, updated when it changes).</summary>
    public ClusterPath PathOf(string cluster)
    {
        lock (gate)
        {
            if (clusters.TryGetValue(cluster, out var c)) return c.View;
            return new ClusterPath { Why = Unavailable ?? Alone };
        }
    }

    /// <summary>The clusters with a directory here.</summary>
    public IReadOnlyList<string> Clusters()
    {
        lock (gate) return [.. clusters.Keys];
    }

    /// <summary>The cluster's shortcut (tests read its map and counters), or null.</summary>
    public SockmapShortcut? ShortcutOf(string cluster)
    {
        lock (gate) return clusters.TryGetValue(cluster, out var c) ? c.Shortcut : null;
    }

    /// <summary>No app of this node is on the cluster any more: the shortcut detached, the directory removed
    /// (logged, never thrown).</summary>
    public void Remove(string cluster)
    {
        lock (gate)
        {
            if (!clusters.Remove(cluster, out var c)) return;
            Release(cluster, c);
        }
    }

    /// <summary>The node stops, its containers stopped: every shortcut detached, every directory removed.</summary>
    public void Stop()
    {
        lock (gate)
        {
            foreach (var (name, c) in clusters) Release(name, c);
            clusters.Clear();
            if (Root is not null)
            {
                TryRmdir(Root, shared: true);
                TryRmdir(Path.GetDirectoryName(Root)!, shared: true); // UNIFIED/tinyo: the host's last node removes it
            }
        }
    }

    /// <summary>
    /// What a killed node of <paramref name="nodeRoot"/> left in the unified tree (<c>tinyonode clean</c>): each
    /// cluster directory's programs detached and the directory removed, then the node's own. Returns how many
    /// directories were removed; logged, never thrown.
    /// </summary>
    public static int RemoveLeftovers(string nodeRoot, Action<string> log)
    {
        var s = new ClusterShortcuts(nodeRoot, _ => null, log);
        if (s.Root is null || !Directory.Exists(s.Root)) return 0;
        int n = 0;
        foreach (var dir in Directory.GetDirectories(s.Root))
        {
            s.DetachLeftovers(dir);
            s.TryRmdir(dir);
            if (!Directory.Exists(dir)) n++;
        }
        s.Stop();
        if (!Directory.Exists(s.Root)) n++;
        return n;
    }

    private void Attach(string cluster, Cluster c)
    {
        var s = SockmapShortcut.TryAttach(c.Dir, subnetOf(cluster), out var why);
        if (s is null)
        {
            c.Failed = true;
            c.View.Why = "kernel: " + why;
            log($"direct: cluster {cluster} stays on the bridge: {why}");
            return;
        }
        c.Shortcut = s;
        c.View.Path = "shortcut";
        c.View.Why = null;
        c.View.Sockets = () => s.Sockets().Count;
        log($"direct: cluster {cluster}: eBPF socket shortcut attached to {c.Dir} (sock_ops {s.SockOpsId}, sk_msg {s.SkMsgId}, sockhash {s.SockhashId}, counters {s.CountersId})");
    }

    private void Release(string cluster, Cluster c)
    {
        if (c.Shortcut is { } s)
        {
            s.Dispose();
            log($"direct: cluster {cluster}: eBPF socket shortcut detached");
        }
        c.View.Path = "bridge";
        c.View.Why = "cluster removed from this node";
        c.View.Sockets = () => 0;
        DetachLeftovers(c.Dir);
        TryRmdir(c.Dir);
    }

    /// <summary>Detaches every sock_ops program on <paramref name="dir"/> (what a node killed with -9 left): once
    /// detached, the kernel frees it and its maps, whose programs went with the last descriptor.</summary>
    private void DetachLeftovers(string dir)
    {
        var ids = BpfObjects.SockOpsAttached(dir);
        if (ids.Length == 0) return;
        int d = Linux.Libc.SysOpen(dir, Linux.Libc.OFlag.RdOnly | Linux.Libc.OFlag.Directory | Linux.Libc.OFlag.Cloexec, 0);
        if (d < 0) return;
        try
        {
            foreach (var id in ids)
            {
                int p = Linux.Libc.BpfProgGetFdById(id);
                if (p < 0) continue;
                Linux.Libc.BpfProgDetach(d, p, Linux.Libc.BPF_CGROUP_SOCK_OPS);
                Linux.Libc.SysClose(p);
                log($"direct: detached sock_ops program {id} a previous node left on {dir}");
            }
        }
        finally { Linux.Libc.SysClose(d); }
    }

    /// <summary>rmdir; a failure is logged unless <paramref name="shared"/> (a parent another node or cluster may
    /// still use: theirs to remove).</summary>
    private void TryRmdir(string dir, bool shared = false)
    {
        try
        {
            if (Directory.Exists(dir)) Directory.Delete(dir);
        }
        catch (IOException e)
        {
            if (!shared) log($"direct: removing the cgroup directory {dir}: {e.Message}");
        }
    }

    /// <summary>The unified (cgroup2) mount of a hybrid host — v1 controllers plus a cgroup2 tree elsewhere — or null
    /// with why.</summary>
    public static string? HybridUnifiedMount(out string? why)
    {
        why = null;
        if (CgroupHost.Current.IsV2)
        {
            why = "the host's cgroups are v2 only: a container has one v2 cgroup, its own (not offered yet)";
            return null;
        }
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            int dash = line.IndexOf(" - ", StringComparison.Ordinal);
            if (dash < 0 || !line.AsSpan(dash + 3).StartsWith("cgroup2 ")) continue;
            var mnt = line[..dash].Split(' ');
            if (mnt.Length > 4 && mnt[3] == "/" && File.Exists(Path.Combine(mnt[4], "cgroup.controllers"))) return mnt[4];
        }
        why = "no cgroup2 mount on this host";
        return null;
    }
}
