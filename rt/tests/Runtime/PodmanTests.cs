using System.Diagnostics;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// podman driving tinyort as its OCI runtime (podman → conmon → <c>tinyort create/start/state/exec/kill/delete</c>
/// with runc's flags). Everything podman keeps is under a temp directory: storage (vfs), run root, tmpdir, and
/// tinyort's own root (<c>TINYO_ROOT</c> in the environment, which conmon and podman's cleanup process inherit: podman
/// 4.3 does not pass <c>--runtime-flag</c> to the cleanup it runs after a <c>--rm</c> container exits); networking is
/// <c>none</c> so no host network state is made.
/// </summary>
/// <remarks>
/// This machine's hard RLIMIT_NOFILE/NPROC are below podman's default (1048576) and raising them is refused, for
/// runc and crun as well: the test passes <c>--ulimit</c>. Skipped (passing, with a note) where podman is missing.
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
        TestPaths.Run(PodmanPath!, [.. _global, .. args], new Dictionary<string, string> { ["TINYO_ROOT"] = Path.Combine(_dir, "tinyo") }, timeoutMs: 120_000);

    private static readonly string[] Limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

    [Fact]
    public void Podman_Run_Tty_Exec_Rm_WithTinyortAsRuntime()
    {
        if (PodmanPath is null)
        {
            Console.WriteLine("podman is not installed: PodmanTests skipped");
            return;
        }
        var (code, o, e) = Podman("pull", "oci:" + BusyboxImage.Get().Layout);
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
        (code, _, e) = Podman("rm", "-f", "-t", "0", "bg");
        Assert.True(code == 0, e);
        Assert.Empty(Directory.Exists(Path.Combine(_dir, "tinyo", "containers")) ? Directory.GetDirectories(Path.Combine(_dir, "tinyo", "containers")) : []);
    }

    public void Dispose()
    {
        if (PodmanPath is not null)
        {
            try { Podman("rm", "-af", "-t", "0"); } catch (TimeoutException) { }
        }
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(_dir));
        Tinyo.Rt.Images.ImageGc.DeleteTree(_dir);
    }
}
