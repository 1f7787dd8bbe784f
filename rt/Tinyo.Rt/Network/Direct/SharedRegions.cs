using Tinyo.Linux;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Network.Direct;

/// <summary>
/// Shared memory regions of a cluster: each a file on its own size-limited tmpfs
/// (<c>/run/tinyo/shm/CLUSTER/NAME/region</c>, <c>size=</c> the region's size), bind-mounted at <c>/dev/shm/NAME</c>
/// in each container of the cluster that lists it — so <c>shm_open("NAME")</c> or <c>open("/dev/shm/NAME")</c> +
/// <c>mmap(MAP_SHARED)</c> in two containers map the same pages.
/// </summary>
/// <remarks>
/// <para>Size: the file is made at the region's size and the tmpfs holds no more, so writing or faulting past it
/// fails (ENOSPC, or SIGBUS on a mapping) instead of growing into the node's memory.</para>
/// <para>Accounting: tmpfs pages are charged to the memory cgroup of the task that first touches them (writes or
/// faults them in) and stay charged there until the file is removed, even if that task exits — the cgroup v1/v2 rule
/// for page cache and shmem. So a region counts against the memory limit of the container that fills it, and a
/// region larger than an app's memory limit could never be filled by it (the statefile refuses one). Pages are not
/// moved when another container maps them.</para>
/// <para>Isolation is by mount: only containers of the cluster that list the region get the bind; another cluster's
/// containers have no path to the file (the host's /run/tinyo is not in their root).</para>
/// </remarks>
public static class SharedRegions
{
    /// <summary>Where the node mounts the regions' tmpfs, and where a container finds a region.</summary>
    public const string HostRoot = "/run/tinyo/shm", ContainerDir = "/dev/shm";

    private const string FileName = "region";

    /// <summary>
    /// Creates (idempotent) region <paramref name="name"/> of <paramref name="cluster"/>, <paramref name="size"/>
    /// bytes, under <paramref name="root"/>, and returns the host path of its file. On failure nothing is left.
    /// </summary>
    /// <exception cref="RtException">A bad name or size, the region exists with another size, or the mount failed.</exception>
    public static string Ensure(string root, string cluster, string name, long size)
    {
        DirectNames.Check(cluster, "cluster");
        DirectNames.Check(name, "shared memory region");
        if (size < 4096) throw new RtException($"shared memory region {name}: {size} bytes is smaller than a page");
        var dir = Path.Combine(root, cluster, name);
        var file = Path.Combine(dir, FileName);
        if (File.Exists(file))
        {
            // The tmpfs's capacity is the region's size: the file's length is the apps' (a shell's `>` truncates it).
            long have = CapacityOf(root, cluster, name) ?? 0;
            if (have != (size + 4095) / 4096 * 4096)
                throw new RtException($"shared memory region {name} of cluster {cluster} exists with {have} bytes, not {size}");
            return file;
        }
        Directory.CreateDirectory(dir);
        long pages = (size + 4095) / 4096 * 4096;
        bool mounted = false;
        try
        {
            if (Libc.Mount("tinyo-shm", dir, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC, $"size={pages},mode=0755") != 0)
                throw Libc.Error("mounting the tmpfs of shared memory region", dir);
            mounted = true;
            using (var f = new FileStream(file, FileMode.CreateNew, FileAccess.Write))
                f.SetLength(size); // sparse: no page is used (or charged) until touched
            // 0666: the cluster's apps may run as any user.
            if (Libc.SysFchmodAt(ClusterSockets.AtCwd, file, 0x1B6, 0) != 0) throw Libc.Error("setting the mode of", file);
            return file;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RtException($"making shared memory region {name} of cluster {cluster}: {e.Message}", e);
        }
        finally
        {
            if (!File.Exists(file))
            {
                if (mounted) Libc.Umount2(dir, Libc.MNT_DETACH);
                Directory.Delete(dir);
            }
        }
    }

    /// <summary>The capacity of region <paramref name="name"/>'s tmpfs in bytes (its size rounded up to pages), or null
    /// when the region does not exist.</summary>
    public static long? CapacityOf(string root, string cluster, string name)
    {
        DirectNames.Check(cluster, "cluster");
        DirectNames.Check(name, "shared memory region");
        var dir = Path.Combine(root, cluster, name);
        if (!File.Exists(Path.Combine(dir, FileName))) return null;
        try
        {
            return new DriveInfo(dir).TotalSize;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The bind mount that puts region <paramref name="name"/> of <paramref name="cluster"/> at /dev/shm/NAME.</summary>
    public static BindMount MountFor(string root, string cluster, string name)
    {
        DirectNames.Check(cluster, "cluster");
        DirectNames.Check(name, "shared memory region");
        return new BindMount(Path.Combine(root, cluster, name, FileName), ContainerDir + "/" + name) { NoExec = true, Trusted = true };
    }

    /// <summary>Removes region <paramref name="name"/> (unmounts its tmpfs: its pages are freed and uncharged once no
    /// container maps them); false when there was none.</summary>
    public static bool Remove(string root, string cluster, string name)
    {
        DirectNames.Check(cluster, "cluster");
        DirectNames.Check(name, "shared memory region");
        var dir = Path.Combine(root, cluster, name);
        if (!Directory.Exists(dir)) return false;
        // Detached: a container still running keeps its mapping until it exits; no new one can reach the region.
        if (Libc.Umount2(dir, Libc.MNT_DETACH) != 0 && Libc.Errno != 22 /* EINVAL: not mounted (half-made) */)
            throw Libc.Error("unmounting shared memory region", dir);
        Directory.Delete(dir);
        return true;
    }

    /// <summary>Removes every region of <paramref name="cluster"/> and its directory; the number removed.</summary>
    public static int RemoveCluster(string root, string cluster)
    {
        DirectNames.Check(cluster, "cluster");
        var dir = Path.Combine(root, cluster);
        if (!Directory.Exists(dir)) return 0;
        int n = 0;
        foreach (var region in Directory.GetDirectories(dir))
            if (Remove(root, cluster, Path.GetFileName(region))) n++;
        Directory.Delete(dir);
        return n;
    }
}
