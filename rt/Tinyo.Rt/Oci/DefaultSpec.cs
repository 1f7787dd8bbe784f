using Tinyo.Rt.Security;

namespace Tinyo.Rt.Oci;

/// <summary>
/// The spec tinyo writes when it is not given one (<c>tinyort spec</c>, and containers run from images): Docker's
/// security defaults — its capability set, seccomp profile, masked and read-only /proc paths, no_new_privs — in every namespace but
/// the user one, with the mounts a Linux userland expects.
/// </summary>
public static class DefaultSpec
{
    /// <summary>Paths made unreadable (Docker's list).</summary>
    public static readonly string[] MaskedPaths =
    [
        "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ];

    /// <summary>Paths made read-only (Docker's list).</summary>
    public static readonly string[] ReadonlyPaths =
        ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

    /// <summary>A spec running <paramref name="args"/> as root in a rootfs directory named <c>rootfs</c>.</summary>
    public static Spec Create(IEnumerable<string> args, string hostname = "tinyo")
    {
        var caps = CapabilitySets.DockerDefault;
        return new Spec
        {
            OciVersion = "1.2.0",
            Process = new SpecProcess
            {
                Args = [.. args],
                Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
                Cwd = "/",
                User = new SpecUser(),
                Capabilities = new SpecCapabilities { Bounding = [.. caps], Effective = [.. caps], Permitted = [.. caps] },
                Rlimits = [new SpecRlimit { Type = "RLIMIT_NOFILE", Hard = 1024, Soft = 1024 }],
                NoNewPrivileges = true,
            },
            Root = new SpecRoot { Path = "rootfs" },
            Hostname = hostname,
            Mounts =
            [
                new() { Destination = "/proc", Type = "proc", Source = "proc", Options = ["nosuid", "noexec", "nodev"] },
                new() { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] },
                new() { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
                new() { Destination = "/dev/shm", Type = "tmpfs", Source = "shm", Options = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
                new() { Destination = "/dev/mqueue", Type = "mqueue", Source = "mqueue", Options = ["nosuid", "noexec", "nodev"] },
                new() { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", "ro"] },
                new() { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "noexec", "nodev", "relatime", "ro"] },
            ],
            Linux = new SpecLinux
            {
                Namespaces = [new() { Type = "pid" }, new() { Type = "network" }, new() { Type = "ipc" }, new() { Type = "uts" }, new() { Type = "mount" }, new() { Type = "cgroup" }],
                Resources = new SpecResources { Devices = [new SpecDeviceRule { Allow = false, Access = "rwm" }] },
                MaskedPaths = [.. MaskedPaths],
                ReadonlyPaths = [.. ReadonlyPaths],
                Seccomp = DefaultSeccomp(caps),
            },
        };
    }

    private static readonly Dictionary<string, System.Text.Json.JsonElement> s_seccomp = [];

    /// <summary>Docker's default profile for <paramref name="caps"/> as JSON, built once per capability set: a node
    /// makes every container of an image from the same set, and building the profile costs more than the lookup.
    /// A <see cref="System.Text.Json.JsonElement"/> is read-only, so one instance serves every spec.</summary>
    private static System.Text.Json.JsonElement DefaultSeccomp(IEnumerable<string> caps)
    {
        var key = string.Join(',', caps);
        lock (s_seccomp)
        {
            if (s_seccomp.TryGetValue(key, out var e)) return e;
            if (s_seccomp.Count >= 16) s_seccomp.Clear(); // a handful of sets in practice; never grows without bound
            return s_seccomp[key] = SeccompProfiles.DockerDefault(caps).ToJsonElement();
        }
    }
}
