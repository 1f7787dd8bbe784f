using Tinyo.Linux;

namespace Tinyo.Rt.Cgroups;

/// <summary>
/// Puts a <see cref="DeviceFilter"/> program on a cgroup v2 directory: loads it with bpf(2) and attaches it at
/// <c>BPF_CGROUP_DEVICE</c>. The descriptors are closed afterwards: the attachment holds the program, and removing
/// the cgroup releases it, so nothing needs to be remembered or detached on delete.
/// </summary>
/// <remarks>
/// Attached with <c>BPF_F_ALLOW_MULTI</c>: the programs of the cgroup's ancestors (systemd puts its own on units)
/// still run, and access needs all of them to allow, so a container never gets more than its parent allows. When the
/// directory already has device programs (a cgroup reused by path, or a second attach), the new one replaces the
/// first atomically (<c>BPF_F_REPLACE</c>: no moment without a filter) and the others are detached afterwards.
/// </remarks>
public static class DeviceProgram
{
    /// <summary>Loads the program for <paramref name="rules"/> and attaches it to <paramref name="cgroupDir"/>.</summary>
    /// <exception cref="RtException">The verifier refused the program (its log is in the message), or the attach failed.</exception>
    public static void Attach(string cgroupDir, IReadOnlyList<DeviceRule> rules)
    {
        var code = DeviceFilter.Build(rules);
        int prog = Libc.BpfProgLoad(Libc.BPF_PROG_TYPE_CGROUP_DEVICE, code, Libc.BPF_CGROUP_DEVICE, out var log);
        if (prog < 0)
        {
            var e = Libc.Error("loading the cgroup v2 device filter (bpf BPF_PROG_LOAD)");
            throw log is { Length: > 0 } ? new RtException($"{e.Message}; the verifier said: {log}") : e;
        }
        int dir = -1, old = -1;
        try
        {
            dir = Libc.SysOpen(cgroupDir, Libc.OFlag.RdOnly | Libc.OFlag.Directory | Libc.OFlag.Cloexec, 0);
            if (dir < 0) throw Libc.Error("opening the cgroup", cgroupDir);
            var existing = Libc.BpfProgQuery(dir, Libc.BPF_CGROUP_DEVICE) ?? [];
            if (existing.Length > 0) old = Libc.BpfProgGetFdById(existing[0]);
            int rc = old >= 0
                ? Libc.BpfProgAttach(dir, prog, Libc.BPF_CGROUP_DEVICE, Libc.BPF_F_ALLOW_MULTI | Libc.BPF_F_REPLACE, old)
                : Libc.BpfProgAttach(dir, prog, Libc.BPF_CGROUP_DEVICE, Libc.BPF_F_ALLOW_MULTI);
            if (rc < 0) throw Libc.Error("attaching the device filter (bpf BPF_PROG_ATTACH) to the cgroup", cgroupDir);
            for (int i = old >= 0 ? 1 : 0; i < existing.Length; i++)
            {
                int fd = Libc.BpfProgGetFdById(existing[i]);
                if (fd < 0) continue; // already gone
                try { Libc.BpfProgDetach(dir, fd, Libc.BPF_CGROUP_DEVICE); }
                finally { Libc.SysClose(fd); }
            }
        }
        finally
        {
            if (old >= 0) Libc.SysClose(old);
            if (dir >= 0) Libc.SysClose(dir);
            Libc.SysClose(prog);
        }
    }

    /// <summary>The ids of the device programs attached to <paramref name="cgroupDir"/> itself (empty when none or gone).</summary>
    public static uint[] Attached(string cgroupDir)
    {
        int dir = Libc.SysOpen(cgroupDir, Libc.OFlag.RdOnly | Libc.OFlag.Directory | Libc.OFlag.Cloexec, 0);
        if (dir < 0) return [];
        try { return Libc.BpfProgQuery(dir, Libc.BPF_CGROUP_DEVICE) ?? []; }
        finally { Libc.SysClose(dir); }
    }

    /// <summary>Whether the kernel still holds the program <paramref name="id"/>.</summary>
    public static bool Exists(uint id)
    {
        int fd = Libc.BpfProgGetFdById(id);
        if (fd < 0) return false;
        Libc.SysClose(fd);
        return true;
    }
}
