namespace Tinyo.Rt.Cgroups;

/// <summary>The cgroup path of a container, relative to each hierarchy's root.</summary>
public static class CgroupPath
{
    /// <summary>Parent of containers that do not name their own cgroup.</summary>
    public const string DefaultParent = "tinyo";

    /// <summary>Checks <c>linux.cgroupsPath</c>: a plain path without <c>..</c>; the systemd form is not supported.</summary>
    public static void Validate(string? path)
    {
        if (string.IsNullOrEmpty(path)) return;
        if (path.Contains(':')) throw new RtException($"linux.cgroupsPath \"{path}\": the systemd slice:prefix:name form is not supported (no systemd)");
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
            if (part is "." or "..") throw new RtException($"linux.cgroupsPath \"{path}\" must not contain . or ..");
        if (path.Contains('\0')) throw new RtException("linux.cgroupsPath has a NUL byte");
    }

    /// <summary>The relative path for a container: the spec's, or <c>tinyo/ID</c>.</summary>
    /// <remarks>
    /// An absolute <c>cgroupsPath</c> is taken below each hierarchy's root, as the runtime spec requires. A relative
    /// one is taken below the root too: the spec leaves its base to the runtime, and the root is the one base that
    /// does not depend on who started the runtime (runc uses the runtime's own cgroup, which differs between a
    /// shell's session scope and a daemon's unit, and on v2 may be a cgroup with processes, whose children cannot
    /// take controllers). runtime-tools' <c>linux_cgroups_relative_cpus</c> accepts either: it finds the cgroup
    /// through <c>/proc/PID/cgroup</c>. Parents the path needs are made and removed again (see
    /// <see cref="CgroupAncestors"/>).
    /// </remarks>
    public static string For(string id, string? specPath) =>
        string.IsNullOrEmpty(specPath) ? DefaultParent + "/" + id : specPath.Trim('/');
}
