using Tinyo.Rt.Oci;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Cgroups;

/// <summary>
/// A cgroup v2 directory a container's process is born in besides its own cgroups, named by the spec annotation
/// <see cref="Annotation"/>: an orchestrator's per-cluster directory, to which it attaches programs that act on the
/// sockets of that cluster's containers (the direct network's socket shortcut). On a hybrid host the container's
/// own cgroups are v1 (the controllers), so its place in the controller-less unified tree is free for this.
/// </summary>
/// <remarks>
/// The process is born there (clone3 CLONE_INTO_CGROUP, see <see cref="Processes.SyscallScript.Run"/>) rather than
/// moved: a move through <c>cgroup.procs</c> takes the global threadgroup rwsem for writing, 7–50 ms measured here.
/// The init path (specs the direct start cannot run) moves it from the parent before init reads its configuration,
/// still before the container's program runs. The directory is the orchestrator's: never made or removed here.
/// </remarks>
public static class ClusterCgroup
{
    /// <summary>The annotation naming the directory (an absolute path in a cgroup2 mount).</summary>
    public const string Annotation = "io.tinyo.cgroup2";

    /// <summary>The directory <paramref name="spec"/> names, or null.</summary>
    public static string? Of(Spec spec) => spec.Annotations?.GetValueOrDefault(Annotation) is { Length: > 0 } d ? d : null;

    /// <summary>Opens (O_RDONLY|O_DIRECTORY|O_CLOEXEC) the directory, checked to be a cgroup v2 one.</summary>
    /// <exception cref="RtException">Not absolute, missing, or not in a cgroup2 mount.</exception>
    public static int Open(string dir)
    {
        if (!Path.IsPathFullyQualified(dir)) throw new RtException($"annotation {Annotation}: {dir} is not an absolute path");
        int fd = SysOpen(dir, OFlag.RdOnly | OFlag.Directory | OFlag.Cloexec, 0);
        if (fd < 0) throw Error($"annotation {Annotation}: opening the cgroup v2 directory", dir);
        if (!File.Exists(Path.Combine(dir, "cgroup.controllers"))) // v1 directories and plain ones have no such file
        {
            SysClose(fd);
            throw new RtException($"annotation {Annotation}: {dir} is not a cgroup v2 directory");
        }
        return fd;
    }

    /// <summary>Moves process <paramref name="pid"/> into <paramref name="dir"/> from outside (the init path).</summary>
    public static void Move(string dir, int pid)
    {
        try
        {
            File.WriteAllText(Path.Combine(dir, "cgroup.procs"), pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RtException($"annotation {Annotation}: moving process {pid} into {dir}: {e.Message}");
        }
    }
}
