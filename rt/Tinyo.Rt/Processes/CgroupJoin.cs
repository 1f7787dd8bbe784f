using Tinyo.Rt.Cgroups;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Processes;

/// <summary>
/// The files through which a freshly cloned, single-threaded child moves <em>itself</em> into its container's cgroup,
/// as the first rows of its syscall table (<c>write(fd, "0", 1)</c>), before it does anything else.
/// </summary>
/// <remarks>
/// Why not the parent writing the child's pid to <c>cgroup.procs</c>: moving a whole thread group takes the global
/// <c>cgroup_threadgroup_rwsem</c> for writing, a per-cpu rw-semaphore whose write side waits for an RCU grace
/// period — measured here at 5–20 ms (median 13 ms) for the first cgroup.procs write of a start, the largest single
/// cost of a container start on this host. The kernel skips that lock when a task migrates only itself
/// (<c>cgroup_procs_write_start</c>: pid 0 written to a per-thread file), so on cgroup v1 the child writes "0" to each
/// hierarchy's <c>tasks</c> file: it has a single thread, so moving the thread moves the process (measured: 20–80 µs
/// per hierarchy). cgroup v2 has no per-thread file outside threaded subtrees, so there the child writes "0" to
/// <c>cgroup.procs</c> (same cost as before, but still before it runs anything).
/// </remarks>
internal static class CgroupJoin
{
    /// <summary>Opens (O_WRONLY|O_CLOEXEC) the join file of every directory of <paramref name="cg"/>.</summary>
    public static int[] Open(Cgroup cg)
    {
        var fds = new int[cg.Directories.Count];
        Array.Fill(fds, -1);
        try
        {
            for (int i = 0; i < fds.Length; i++)
            {
                var path = cg.Directories[i] + (cg.IsV2 ? "/cgroup.procs" : "/tasks");
                fds[i] = SysOpen(path, OFlag.WrOnly | OFlag.Cloexec, 0);
                if (fds[i] < 0) throw Error("opening the container's cgroup", path);
            }
            return fds;
        }
        catch
        {
            Close(fds);
            throw;
        }
    }

    /// <summary>Closes what <see cref="Open"/> returned.</summary>
    public static void Close(int[]? fds)
    {
        if (fds is null) return;
        foreach (var fd in fds) if (fd >= 0) SysClose(fd);
    }
}
