namespace Tinyo.Rt.Cgroups;

/// <summary>
/// The host's cgroup layout, read from <c>/proc/self/mountinfo</c>: unified (cgroup2 at the cgroup root with its
/// controllers), or v1 controllers each at their own mount. A hybrid host (v1 controllers plus an empty cgroup2 at
/// <c>/sys/fs/cgroup/unified</c>, as on this project's machines) is treated as v1: the controllers are where the
/// v1 mounts are, and the controller-less v2 tree has nothing to enforce.
/// </summary>
public sealed class CgroupHost
{
    /// <summary>Unified hierarchy mount point when the host is cgroup v2.</summary>
    public string? V2Root { get; private init; }
    /// <summary>v1 hierarchies: mount super options (<c>cpu,cpuacct</c>, <c>name=systemd</c>) → mount point.</summary>
    public IReadOnlyList<(string Options, string MountPoint)> V1 { get; private init; } = [];

    /// <summary>Whether limits go through the unified hierarchy.</summary>
    public bool IsV2 => V2Root is not null;

    private static CgroupHost? s_current;

    /// <summary>The layout of this host (cached: it does not change under a running process in practice).</summary>
    public static CgroupHost Current => s_current ??= Detect(File.ReadAllLines("/proc/self/mountinfo"));

    /// <summary>
    /// A unified-hierarchy layout rooted at <paramref name="root"/>, whatever the host's mounts say. For tests of the
    /// v2 code on hybrid hosts (their cgroup2 tree is real but has no memory/cpu/pids controllers) and for hosts that
    /// mount cgroup2 somewhere other than <c>/sys/fs/cgroup</c>.
    /// </summary>
    public static CgroupHost Unified(string root) => new() { V2Root = root };

    /// <summary>
    /// A plain directory standing for a cgroup2 tree, for tests of the control-file writes: like
    /// <see cref="Unified"/>, but without the BPF device filter, which only a real cgroup2 directory can take.
    /// </summary>
    internal static CgroupHost PreparedTree(string root) => new() { V2Root = root, DeviceFilter = false };

    /// <summary>Whether v2 cgroups get the BPF device filter (always, except on a <see cref="PreparedTree"/>).</summary>
    internal bool DeviceFilter { get; private init; } = true;

    /// <summary>Parses mountinfo lines.</summary>
    public static CgroupHost Detect(IEnumerable<string> mountinfo)
    {
        string? v2 = null;
        var v1 = new List<(string, string)>();
        foreach (var line in mountinfo)
        {
            int dash = line.IndexOf(" - ", StringComparison.Ordinal);
            if (dash < 0) continue;
            var pre = line[..dash].Split(' ');
            var post = line[(dash + 3)..].Split(' ');
            if (pre.Length < 5 || post.Length < 3) continue;
            string mnt = Unescape(pre[4]);
            if (post[0] == "cgroup2" && mnt == "/sys/fs/cgroup" && File.Exists(Path.Combine(mnt, "cgroup.controllers")))
                v2 = mnt;
            else if (post[0] == "cgroup")
            {
                var opts = string.Join(',', post[2].Split(',').Where(o => o is not ("rw" or "ro") && !o.StartsWith("release_agent") && o != "clone_children" && o != "noprefix" && o != "xattr" && o != "cpuset_v2_mode"));
                // One entry per hierarchy: the same hierarchy bind-mounted elsewhere too (a chroot's or another
                // container's /sys/fs/cgroup, a bind of a sub-cgroup) would otherwise be mounted twice in every
                // container (the second mount on the same point fails with EBUSY). The mount of the hierarchy's
                // root wins, and among those the one under /sys/fs/cgroup.
                int at = v1.FindIndex(h => h.Item1 == opts);
                bool whole = pre[3] == "/";
                if (at < 0) { if (whole) v1.Add((opts, mnt)); }
                else if (whole && !v1[at].Item2.StartsWith("/sys/fs/cgroup/", StringComparison.Ordinal) && mnt.StartsWith("/sys/fs/cgroup/", StringComparison.Ordinal))
                    v1[at] = (opts, mnt);
            }
        }
        return v2 is not null && v1.Count == 0 ? new CgroupHost { V2Root = v2 } : new CgroupHost { V1 = v1 };
    }

    private static string Unescape(string s) => s.Contains('\\')
        ? s.Replace("\\040", " ").Replace("\\011", "\t").Replace("\\012", "\n").Replace("\\134", "\\") : s;

    /// <summary>Mount point of the v1 hierarchy holding <paramref name="controller"/>, or null.</summary>
    public string? V1MountOf(string controller)
    {
        foreach (var (o, m) in V1)
            foreach (var part in o.Split(','))
                if (part == controller) return m;
        return null;
    }
}
