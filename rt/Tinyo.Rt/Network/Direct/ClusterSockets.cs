using Tinyo.Linux;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Network.Direct;

/// <summary>
/// Unix sockets by name: one directory per cluster on the node (<c>/run/tinyo/uds/CLUSTER</c>), bind-mounted at
/// <c>/run/tinyo/uds</c> in each container of that cluster. An app that exposes <c>web.sock</c> listens on
/// <c>/run/tinyo/uds/web.sock</c> and its cluster's apps connect to the same path; the socket file lives in the
/// cluster's directory on the host.
/// </summary>
/// <remarks>
/// <para>Isolation is by mount: a container sees only its own cluster's directory (the host's
/// <c>/run/tinyo/uds</c> is not in its root after pivot_root), so another cluster has no path to the socket at all —
/// connect(2) on a Unix socket needs its path. (Abstract sockets are per network namespace, which each replica has
/// its own of.)</para>
/// <para>The cluster directory is mode 1777 like /tmp: the apps of a cluster may run as different users, and each
/// must be able to create its socket; the sticky bit keeps one from removing another's. The host's root directory is
/// 0711 and root's: nothing on the host lists the clusters' directories but root.</para>
/// </remarks>
public static class ClusterSockets
{
    /// <summary>Where the node keeps the clusters' socket directories, and where a container finds its cluster's.</summary>
    public const string HostRoot = "/run/tinyo/uds", ContainerPath = "/run/tinyo/uds";

    /// <summary>AT_FDCWD.</summary>
    internal const int AtCwd = -100;

    /// <summary>Creates (idempotent) and returns the socket directory of <paramref name="cluster"/> under <paramref name="root"/>.</summary>
    /// <exception cref="RtException">The cluster name is not a plain name, or the directory cannot be made.</exception>
    public static string Ensure(string root, string cluster)
    {
        DirectNames.Check(cluster, "cluster");
        try
        {
            Directory.CreateDirectory(root);
            if (Libc.SysFchmodAt(AtCwd, root, 0x1C9 /* 0711 */, 0) != 0) throw Libc.Error("setting the mode of", root);
            var dir = Path.Combine(root, cluster);
            Directory.CreateDirectory(dir);
            if (Libc.SysFchmodAt(AtCwd, dir, 0x3FF | 0x200 /* 1777, past the umask */, 0) != 0) throw Libc.Error("setting the mode of", dir);
            return dir;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RtException($"making the socket directory of cluster {cluster} in {root}: {e.Message}", e);
        }
    }

    /// <summary>The bind mount that gives a container of <paramref name="cluster"/> its sockets (made by <see cref="Ensure"/>).</summary>
    public static BindMount MountFor(string root, string cluster)
    {
        DirectNames.Check(cluster, "cluster");
        return new BindMount(Path.Combine(root, cluster), ContainerPath) { NoExec = true, Trusted = true };
    }

    /// <summary>The host path of the socket <paramref name="file"/> of <paramref name="cluster"/> (e.g. for a relay).</summary>
    public static string SocketPath(string root, string cluster, string file)
    {
        DirectNames.Check(cluster, "cluster");
        DirectNames.CheckFile(file);
        return Path.Combine(root, cluster, file);
    }

    /// <summary>Removes the cluster's directory with every socket file in it; false when there was none.</summary>
    public static bool Remove(string root, string cluster)
    {
        DirectNames.Check(cluster, "cluster");
        var dir = Path.Combine(root, cluster);
        if (!Directory.Exists(dir)) return false;
        Directory.Delete(dir, recursive: true);
        return true;
    }
}
