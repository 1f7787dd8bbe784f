using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Cgroups;

/// <summary>
/// What a container without a cgroup namespace of its own sees under its <c>cgroup</c> mount. A fresh cgroup mount
/// shows the whole hierarchy of the namespace it is made in: inside the container's own cgroup namespace that is the
/// container's cgroup, but without one (Docker's default <c>cgroupns=host</c> on v1 hosts) it is the host's whole
/// tree — every other container's cgroup names and usage, and files a root process could write to if the mount were
/// not read-only. So, as runc does, each hierarchy's mount gets the container's own directory bind-mounted over it.
/// </summary>
public static class CgroupView
{
    /// <summary>
    /// For each hierarchy of <paramref name="host"/> (in <see cref="CgroupHost.V1"/> order; one entry on a unified
    /// host), the directory the container's process is in, relative to the hierarchy's root: the container's cgroup
    /// where it has one, else the runtime's own (the child stays where it was created). Empty when it is the root.
    /// </summary>
    public static List<string> Subpaths(CgroupHost host, Cgroup cg)
    {
        var own = OwnPaths();
        var result = new List<string>();
        if (host.IsV2)
        {
            result.Add(Relative(host.V2Root!, cg.Directories.Count > 0 ? cg.Directories[0] : null) ?? Find(own, "") ?? "");
            return result;
        }
        foreach (var (options, mountPoint) in host.V1)
        {
            string? rel = null;
            foreach (var d in cg.Directories)
                if ((rel = Relative(mountPoint, d)) is not null) break;
            rel ??= Find(own, options);
            // A path of ours that the hierarchy no longer has (a race with its removal) is shown as the root, which
            // the read-only mount still protects; the start must not fail over a view.
            if (rel is { Length: > 0 } && !Directory.Exists(Path.Combine(mountPoint, rel))) rel = "";
            result.Add(rel ?? "");
        }
        return result;
    }

    /// <summary>Whether the spec's container has no cgroup namespace of its own but mounts cgroups.</summary>
    public static bool Needed(Spec spec)
    {
        bool mounts = false;
        foreach (var m in spec.Mounts ?? []) if (m.Type is "cgroup" or "cgroup2") { mounts = true; break; }
        if (!mounts) return false;
        foreach (var n in spec.Linux?.Namespaces ?? []) if (n.Type == "cgroup") return false;
        return true;
    }

    private static string? Relative(string mountPoint, string? dir)
    {
        if (dir is null) return null;
        var mp = mountPoint.TrimEnd('/') + "/";
        return dir.StartsWith(mp, StringComparison.Ordinal) ? dir[mp.Length..].Trim('/') : null;
    }

    /// <summary>/proc/self/cgroup: "id:controllers:/path" per hierarchy ("0::/path" for the unified one).</summary>
    private static List<(string Controllers, string Path)> OwnPaths()
    {
        var l = new List<(string, string)>();
        try
        {
            foreach (var line in File.ReadAllLines("/proc/self/cgroup"))
            {
                int a = line.IndexOf(':'), b = a < 0 ? -1 : line.IndexOf(':', a + 1);
                if (b < 0) continue;
                l.Add((line[(a + 1)..b], line[(b + 1)..].Trim('/')));
            }
        }
        catch (IOException) { }
        return l;
    }

    private static string? Find(List<(string Controllers, string Path)> own, string options)
    {
        var want = options.Split(',', StringSplitOptions.RemoveEmptyEntries);
        foreach (var (controllers, path) in own)
        {
            var have = controllers.Split(',', StringSplitOptions.RemoveEmptyEntries);
            if (have.Length != want.Length) continue;
            bool all = true;
            foreach (var w in want) if (Array.IndexOf(have, w) < 0) { all = false; break; }
            if (all) return path;
        }
        return null;
    }
}
