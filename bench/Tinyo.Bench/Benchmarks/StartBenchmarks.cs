using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Tinyo.Bench.Env;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Bench.Benchmarks;

/// <summary>
/// Container start: create, start, wait for and delete one container running <c>/bin/true</c> from the same OCI
/// bundle (runc's default spec, busybox rootfs, read-only) — <c>tinyort run</c> vs <c>crun run</c> (inside its
/// hybrid-cgroup wrapper, whose cost alone is measured too) vs <c>runc run</c> vs <c>podman run --rm</c> (temp vfs
/// store holding the busybox image, runc as its OCI runtime: crun fails here, see docs/benchmarks.md) vs
/// <c>docker run --rm</c> (a private dockerd started for the suite, scripts/peer-dockerd.sh, the same busybox image
/// loaded into it, stopped with every trace removed in GlobalCleanup or on SIGINT/SIGTERM). tinyort is
/// measured twice: its default direct start, and forced onto the init path (the start before the direct start
/// existed; `env` adds one small exec to that row).
/// </summary>
[IterationCount(30)]
public class Start
{
    private TempDir? _work;
    private string _bundle = "";
    private string _podman = "";
    private int _n;
    private string _ulimits = "";
    private readonly List<(string Runtime, string Id)> _failed = [];
    private PeerDockerd? _docker;
    private bool _libpodParentNew;
    private readonly Lock _cleanupLock = new();
    private PosixSignalRegistration? _sigint, _sigterm;

    [GlobalSetup]
    public void Setup()
    {
        // Interrupted (Ctrl-C, kill): clean up before the process goes (not cancelled: it still terminates after).
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => Cleanup());
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => Cleanup());
        try { SetUpPeers(); }
        catch { Cleanup(); throw; }
    }

    private void SetUpPeers()
    {
        _libpodParentNew = !Directory.Exists("/sys/fs/cgroup/memory/libpod_parent");
        _work = new TempDir("tinyo-bench-start-");
        var rootfs = Peers.BusyboxRootfs(_work.Path);
        _bundle = Peers.Bundle(Path.Combine(_work.Path, "bundle"), rootfs, ["/bin/true"]);
        _podman = Path.Combine(_work.Path, "podman");
        // podman raises nofile/nproc to values above this host's hard limits, which fail without CAP_SYS_RESOURCE.
        _ulimits = $"nofile=1024:{HardLimit("Max open files")},nproc=4096:4096";
        var img = BusyboxImage.Get();
        Cmd.Run("podman", Peers.Podman(_podman, "pull", "-q", $"oci:{img.Layout}:{img.Tag}"));
        Cmd.Run("podman", Peers.Podman(_podman, "tag", FirstImage(), "bench-busybox"));
        // Its own bridge name and /24, so bench/first-byte.sh's engine (tiodk0) can run at the same time.
        _docker = PeerDockerd.Start(Path.Combine(_work.Path, "dockerd"), "tiodks0", "10.213.8.1/24");
        _docker.LoadBusybox("bench-busybox:latest", _work.Path);
    }

    private static string HardLimit(string name) =>
        File.ReadLines("/proc/self/limits").First(l => l.StartsWith(name, StringComparison.Ordinal))[26..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];

    private string FirstImage() => Cmd.Run("podman", Peers.Podman(_podman, "images", "-q")).Split('\n', StringSplitOptions.RemoveEmptyEntries)[0];

    // podman's cgroupfs manager otherwise leaves /sys/fs/cgroup/*/libpod_parent/conmon behind.
    private static string PodmanCgroup => $"tinyo-bench-{Environment.ProcessId}-podman";

    // docker's cgroupfs driver otherwise uses /sys/fs/cgroup/*/docker, shared with any other engine on the host.
    private static string DockerCgroup => $"tinyo-bench-{Environment.ProcessId}-docker";

    private string Id(string rt) => $"tinyo-bench-{Environment.ProcessId}-{rt}-{++_n}";

    private string Root(string rt) => Path.Combine(_work!.Path, rt + "-state");

    private void Guard(string rt, string id, Action run)
    {
        try { run(); }
        catch { _failed.Add((rt, id)); throw; }
    }

    [Benchmark(Baseline = true, Description = "crun run (in unshare -m wrapper)")]
    public void Crun()
    {
        var id = Id("crun");
        Guard("crun", id, () => Cmd.Run("unshare", Peers.Crun("--root", Root("crun"), "run", "--bundle", _bundle, id)));
    }

    [Benchmark(Description = "crun wrapper alone (unshare -m sh -c umount; exec true)")]
    public void CrunWrapper() => Cmd.Run("unshare", Peers.CrunWrapperOnly);

    [Benchmark(Description = "runc run")]
    public void Runc()
    {
        var id = Id("runc");
        Guard("runc", id, () => Cmd.Run("runc", "--root", Root("runc"), "run", "--bundle", _bundle, id));
    }

    [Benchmark(Description = "podman run --rm (vfs, runc, rlimits ≤ host hard)")]
    public void Podman() =>
        Cmd.Run("podman", Peers.Podman(_podman, "run", "--rm", "--network", "none", "--cgroup-parent", "/" + PodmanCgroup, "--ulimit", _ulimits, "bench-busybox", "/bin/true"));

    [Benchmark(Description = "docker run --rm (private dockerd 20.10, runc via containerd-shim)")]
    public void Docker() =>
        Cmd.Run("docker", _docker!.Docker("run", "--rm", "--network", "none", "--cgroup-parent", "/" + DockerCgroup, "bench-busybox", "/bin/true"));

    [Benchmark(Description = "tinyort run")]
    public void Tinyort()
    {
        var id = Id("tinyort");
        Guard("tinyort", id, () => Cmd.Run(Peers.Tinyort, "--root", Root("tinyort"), "run", "--bundle", _bundle, id));
    }

    [Benchmark(Description = "tinyort run, init path (env TINYO_INIT=1: tinyort init exec'd into the container)")]
    public void TinyortInitPath()
    {
        var id = Id("tinyort");
        Guard("tinyort", id, () => Cmd.Run("env", "TINYO_INIT=1", Peers.Tinyort, "--root", Root("tinyort"), "run", "--bundle", _bundle, id));
    }

    /// <summary>Removes everything the suite made; idempotent and safe to call from a signal handler and
    /// BenchmarkDotNet at once (the second caller waits for the first).</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        lock (_cleanupLock) CleanUpOnce();
    }

    private void CleanUpOnce()
    {
        if (_work is null) return;
        foreach (var (rt, id) in _failed)
        {
            _ = rt switch
            {
                "crun" => Cmd.TryRun("unshare", Peers.Crun("--root", Root("crun"), "delete", "--force", id)),
                "runc" => Cmd.TryRun("runc", "--root", Root("runc"), "delete", "--force", id),
                _ => Cmd.TryRun(Peers.Tinyort, "--root", Root("tinyort"), "delete", "--force", id),
            };
        }
        _failed.Clear();
        _docker?.Dispose();
        if (Directory.Exists(_podman))
        {
            Cmd.TryRun("podman", Peers.Podman(_podman, "rm", "--all", "--force"));
            Cmd.TryRun("podman", Peers.Podman(_podman, "rmi", "--all", "--force"));
        }
        Peers.UnmountUnder(_work.Path);
        Peers.RemoveCgroups(PodmanCgroup);
        Peers.RemoveCgroups(DockerCgroup);
        // podman's conmon lands in libpod_parent/ whatever --cgroup-parent says: removed if this run created it.
        if (_libpodParentNew) Peers.RemoveCgroups("libpod_parent");
        _work.Dispose();
        _work = null;
    }
}
