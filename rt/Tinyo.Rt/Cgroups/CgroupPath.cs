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
    public static string For(string id, string? specPath) =>
        string.IsNullOrEmpty(specPath) ? DefaultParent + "/" + id : specPath.Trim('/');
}
