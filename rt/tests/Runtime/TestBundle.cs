using System.Text.Json;
using Tinyo.Rt.Oci;

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

    /// <summary>tinyo's default spec, without the cgroup mount (tests that want it add it).</summary>
    public static Spec DefaultSpec(string[] args)
    {
        var s = Oci.DefaultSpec.Create(args);
        s.Mounts!.RemoveAll(m => m.Type == "cgroup");
        s.Process!.Rlimits = null;
        return s;
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
