using System.Text.Json;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Security;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// A throw-away OCI bundle in a temp directory: a rootfs with Debian's static busybox and its applets as symlinks,
/// and a config.json written from a <see cref="Spec"/> the test shapes (Docker-like defaults: all namespaces but
/// user, Docker's capabilities, masked and read-only /proc paths).
/// </summary>
public sealed class TestBundle : IDisposable
{
    private static readonly string[] Applets =
    [
        "sh", "echo", "cat", "id", "hostname", "ls", "sleep", "true", "false", "mount", "ps", "tail", "head", "seq",
        "grep", "wc", "touch", "pwd", "env", "mknod", "dd", "readlink", "stat", "test", "kill",
    ];

    public string Dir { get; }
    public string Rootfs => Path.Combine(Dir, "rootfs");
    public Spec Spec { get; }

    public TestBundle(params string[] args)
    {
        Dir = Directory.CreateTempSubdirectory("tinyo-bundle-").FullName;
        Directory.CreateDirectory(Path.Combine(Rootfs, "bin"));
        File.Copy(Busybox, Path.Combine(Rootfs, "bin", "busybox"));
        foreach (var a in Applets) File.CreateSymbolicLink(Path.Combine(Rootfs, "bin", a), "busybox");
        foreach (var d in new[] { "proc", "sys", "dev", "tmp", "etc" }) Directory.CreateDirectory(Path.Combine(Rootfs, d));
        Spec = DefaultSpec(args);
    }

    public static string Busybox =>
        new[] { "/usr/bin/busybox", "/bin/busybox" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("busybox is missing: run scripts/deps.sh (busybox-static)");

    public static Spec DefaultSpec(string[] args)
    {
        var caps = CapabilitySets.DockerDefault.ToList();
        return new Spec
        {
            OciVersion = "1.0.2",
            Process = new SpecProcess
            {
                Args = [.. args], Env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cwd = "/",
                User = new SpecUser(),
                Capabilities = new SpecCapabilities { Bounding = [.. caps], Effective = [.. caps], Permitted = [.. caps] },
                NoNewPrivileges = true,
            },
            Root = new SpecRoot { Path = "rootfs" },
            Hostname = "tinyo",
            Mounts =
            [
                new() { Destination = "/proc", Type = "proc", Source = "proc" },
                new() { Destination = "/dev", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "strictatime", "mode=755", "size=65536k"] },
                new() { Destination = "/dev/pts", Type = "devpts", Source = "devpts", Options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
                new() { Destination = "/dev/shm", Type = "tmpfs", Source = "shm", Options = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
                new() { Destination = "/dev/mqueue", Type = "mqueue", Source = "mqueue", Options = ["nosuid", "noexec", "nodev"] },
                new() { Destination = "/sys", Type = "sysfs", Source = "sysfs", Options = ["nosuid", "noexec", "nodev", "ro"] },
            ],
            Linux = new SpecLinux
            {
                Namespaces = [new() { Type = "pid" }, new() { Type = "network" }, new() { Type = "ipc" }, new() { Type = "uts" }, new() { Type = "mount" }, new() { Type = "cgroup" }],
                MaskedPaths = ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
                ReadonlyPaths = ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            },
        };
    }

    /// <summary>Writes config.json from <see cref="Spec"/>; returns the bundle directory.</summary>
    public string Write()
    {
        File.WriteAllBytes(Path.Combine(Dir, "config.json"), JsonSerializer.SerializeToUtf8Bytes(Spec, OciJson.Default.Spec));
        return Dir;
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
