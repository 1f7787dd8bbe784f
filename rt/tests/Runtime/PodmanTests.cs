using System.Diagnostics;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// podman driving tinyort as its OCI runtime (podman → conmon → <c>tinyort create/start/state/exec/kill/delete</c>
/// with runc's flags). Everything podman keeps is under a temp directory: storage (vfs), run root and tmpdir;
/// networking is <c>none</c> so no host network state is made. tinyort runs with its default root
/// (/var/lib/tinyo), as it does under podman: podman passes no environment to the runtime, and 4.3 drops
/// <c>--runtime-flag</c> on the cleanup it runs after a <c>--rm</c> container exits. The test checks that none of
/// its containers remain there, and removes the root if it made it.
/// </summary>
/// <remarks>
/// This machine's hard RLIMIT_NOFILE/NPROC are below podman's default (1048576) and raising them is refused, for
/// runc and crun as well: the test passes <c>--ulimit</c>. Skipped, with the reason, where podman is missing.
/// </remarks>
[Collection("containers")]
public sealed class PodmanTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tinyo-podman-").FullName;
    private readonly List<string> _global;

    public PodmanTests()
    {
        _global =
        [
            "--root", Path.Combine(_dir, "storage"), "--runroot", Path.Combine(_dir, "run"), "--tmpdir", Path.Combine(_dir, "tmp"),
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
            "--runtime", ContainerHarness.Binary.Path,
        ];
    }

    private static readonly string? PodmanPath = new[] { "/usr/bin/podman", "/usr/local/bin/podman" }.FirstOrDefault(File.Exists);

    private (int Code, string Out, string Err) Podman(params string[] args) =>
        TestPaths.Run(PodmanPath!, [.. _global, .. args], timeoutMs: 120_000);

    private const string DefaultRoot = "/var/lib/tinyo";
    private readonly bool _rootExisted = Directory.Exists(DefaultRoot);
    // podman's cgroupfs manager puts conmon (and containers) under /libpod_parent and leaves the directories behind.
    private readonly bool _libpodParentExisted = Directory.Exists("/sys/fs/cgroup/memory/libpod_parent") || Directory.Exists("/sys/fs/cgroup/libpod_parent");

    private static HashSet<string> TinyortContainers() =>
        Directory.Exists(DefaultRoot + "/containers") ? [.. Directory.GetDirectories(DefaultRoot + "/containers").Select(Path.GetFileName).OfType<string>()] : [];

    private static readonly string[] Limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

    [SkippableFact]
    public void Podman_Run_Tty_Exec_Rm_WithTinyortAsRuntime()
    {
        Skip.If(PodmanPath is null, "podman is not installed (make deps installs it)");
        var before = TinyortContainers();
        // podman names an oci: image after its path, and image names must be lowercase: the checkout's path may not be
        // (a temp clone), so pull through a lowercase symlink.
        var link = Path.Combine(Path.GetTempPath(), "tinyo-podman-" + Guid.NewGuid().ToString("N"));
        File.CreateSymbolicLink(link, BusyboxImage.Get().Layout);
        (int Code, string Out, string Err) pulled;
        try { pulled = Podman("pull", "oci:" + link); }
        finally { File.Delete(link); }
        var (code, o, e) = pulled;
        Assert.True(code == 0, e);
        var imageId = o.Trim().Split('\n')[^1];
        Assert.Equal(0, Podman("tag", imageId, "localhost/bb:latest").Code);

        (code, o, e) = Podman(["run", "--rm", "--network", "none", "--pull", "never", .. Limits, "bb", "sh", "-c", "echo hi; hostname; grep -c localhost /etc/hosts; exit 3"]);
        Assert.True(code == 3, e);
        Assert.Matches("^hi\n[0-9a-f]{12}\n[1-9]\n$", o);

        // -t: conmon passes --console-socket and receives the pty master from tinyort.
        (code, o, e) = Podman(["run", "--rm", "-t", "--network", "none", "--pull", "never", .. Limits, "bb", "sh", "-c", "test -t 0 && readlink /proc/self/fd/1"]);
        Assert.True(code == 0, e);
        Assert.Equal("/dev/pts/0\r\n", o);

        // -d, then exec (runc's `exec --process FILE --pid-file F --detach ID`), as another user, and rm -f.
        (code, o, e) = Podman(["run", "-d", "--name", "bg", "--network", "none", "--pull", "never", .. Limits, "bb", "sleep", "60"]);
        Assert.True(code == 0, e);
        var (pc, ps, _) = Podman("ps", "--format", "{{.Names}} {{.Status}}");
        Assert.Equal(0, pc);
        Assert.Contains("bg Up", ps);
        (code, o, e) = Podman("exec", "-u", "nobody", "bg", "sh", "-c", "id -u; exit 4");
        Assert.True(code == 4, e);
        Assert.Equal("65534\n", o);
        var bgId = Podman("inspect", "--format", "{{.Id}}", "bg").Out.Trim();
        Assert.Contains(bgId, TinyortContainers()); // tinyort holds the running container's state
        (code, _, e) = Podman("rm", "-f", "-t", "0", "bg");
        Assert.True(code == 0, e);
        // Every container podman ran through tinyort is gone from tinyort's root (the --rm ones are removed by
        // podman's cleanup process shortly after they exit).
        var end = Environment.TickCount64 + 10_000;
        while (!TinyortContainers().IsSubsetOf(before) && Environment.TickCount64 < end) Thread.Sleep(100);
        Assert.Empty(TinyortContainers().Except(before));
    }

    public void Dispose()
    {
        if (PodmanPath is not null)
        {
            try { Podman("rm", "-af", "-t", "0"); } catch (TimeoutException) { }
        }
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(_dir));
        Tinyo.Rt.Images.ImageGc.DeleteTree(_dir);
        if (!_rootExisted && TinyortContainers().Count == 0)
        {
            try { Directory.Delete(DefaultRoot, recursive: true); } catch (IOException) { }
        }
        if (!_libpodParentExisted) RemoveEmptyCgroups("libpod_parent");
    }

    /// <summary>rmdir of <paramref name="name"/> and what is below it in every hierarchy, deepest first, once empty
    /// (conmon may still be exiting: a few tries).</summary>
    private static void RemoveEmptyCgroups(string name)
    {
        foreach (var h in Directory.GetDirectories("/sys/fs/cgroup"))
        {
            var top = Path.Combine(h, name);
            if (!Directory.Exists(top)) continue;
            var dirs = Directory.GetDirectories(top, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(top);
            foreach (var d in dirs)
                for (int i = 0; i < 50; i++)
                {
                    try { Directory.Delete(d); break; }
                    catch (IOException) { Thread.Sleep(20); }
                }
        }
    }
}
