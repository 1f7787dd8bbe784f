using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Tinyo.Bench.Env;
using Tinyo.Rt;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Images;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Bench.Benchmarks;

/// <summary>
/// A start inside the node (issue 16): tinyonode embeds Tinyo.Rt and starts containers in-process, so no process
/// start-up is paid. Each iteration is one request → the container's program running → its exit observed, through the
/// library API the node uses (<see cref="ImageContainers.Run"/> as RtContainerHost does: a detached busybox image
/// container on an overlay rootfs, then the exit collected with <see cref="ContainerRuntime.CollectExit"/>), and the
/// same for an OCI bundle (no overlay: <see cref="ContainerRuntime.Launch"/> + wait). Removal is in the untimed
/// cleanup. Next to it, the C floor of the same host (bench/floor/start-floor.c, built by <c>make bench</c>: clone of
/// all namespaces + pivot_root + exec, with and without overlay), run in GlobalSetup; its medians are printed and
/// written to artifacts/bench/floor.md.
/// </summary>
[IterationCount(40)]
public class InNodeStart
{
    private TempDir? _work;
    private ImageContainers? _ic;
    private ContainerRuntime? _rt;
    private StoredImage? _img;
    private string _bundle = "";
    private string? _last;
    private bool _lastIsImage;
    private int _n;

    [GlobalSetup]
    public void Setup()
    {
        _work = new TempDir("tinyo-bench-innode-");
        var root = new RuntimeRoot(Path.Combine(_work.Path, "root"));
        Cmd.Run(Peers.Tinyort, "--root", root.Path, "load", BusyboxImage.Get().Layout, "--name", "busybox");
        var store = new ImageStore(root);
        _img = store.Load(store.Find("busybox"));
        // As tinyonode configures it: the AOT binary is the init command (init path, exit monitor), sealed.
        _rt = new ContainerRuntime(root, new RuntimeOptions { InitCommand = [Peers.Tinyort], SealInit = true });
        _ic = new ImageContainers(_rt);
        var rootfs = Peers.BusyboxRootfs(_work.Path);
        _bundle = Peers.Bundle(Path.Combine(_work.Path, "bundle"), rootfs, ["/bin/true"]);
        Floor(rootfs);
    }

    /// <summary>The C floor, same host, same moment (not a BenchmarkDotNet row: it measures itself in C).</summary>
    private static void Floor(string rootfs)
    {
        var floor = Path.Combine(TestPaths.RepoRoot, "out", "bench", "start-floor");
        if (!File.Exists(floor))
        {
            Console.WriteLine($"// start-floor: {floor} is missing (make bench builds it); floor not measured");
            return;
        }
        var lines = new List<string>();
        foreach (var overlay in new[] { false, true })
        {
            var o = Cmd.Run(floor, overlay ? [rootfs, "--overlay", "-n", "100"] : [rootfs, "-n", "100"]).Trim();
            Console.WriteLine("// " + o);
            lines.Add("- " + o);
        }
        var dir = Path.Combine(TestPaths.RepoRoot, "artifacts", "bench");
        Directory.CreateDirectory(dir);
        File.WriteAllLines(Path.Combine(dir, "floor.md"), lines);
    }

    [Benchmark(Baseline = true, Description = "in-process, as the node: busybox image (overlay), detached → exit collected")]
    public void ImageContainer()
    {
        var s = _ic!.Run(new RunOptions { Image = "busybox", Detach = true, Command = ["/bin/true"], Network = "none" }, _img!);
        _last = s.Id;
        _lastIsImage = true;
        WaitExited(s.Pid);
        if (_rt!.CollectExit(s.Id) is not { Code: 0 }) throw new InvalidOperationException($"container {s.Id}: no exit 0 recorded");
    }

    [Benchmark(Description = "in-process: OCI bundle (no overlay), Launch → Wait")]
    public void Bundle()
    {
        var id = $"innode-{Environment.ProcessId}-{++_n}";
        _last = id;
        _lastIsImage = false;
        var st = _rt!.Launch(id, _bundle, detached: false).Wait(remove: false);
        if (st.Code != 0) throw new InvalidOperationException($"container {id}: exit {st.Code}");
    }

    [IterationCleanup]
    public void RemoveLast()
    {
        if (_last is null) return;
        if (_lastIsImage) _ic!.Remove(_last, force: true);
        else _rt!.Delete(_last, force: true);
        _last = null;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        try
        {
            if (_ic is not null)
                foreach (var c in _ic.List()) _ic.Remove(c.Id, force: true);
        }
        catch (RtException e) { Console.Error.WriteLine("in-node cleanup: " + e.Message); }
        _work?.Dispose();
    }

    /// <summary>Blocks until the child <paramref name="pid"/> has exited, without reaping it (waitid WNOWAIT), so
    /// CollectExit reaps and records it as the node's SIGCHLD handler does.</summary>
    private static void WaitExited(int pid)
    {
        if (Tinyo.Linux.Libc.WaitExitedNoReap(pid) != 0)
            throw new InvalidOperationException($"waitid {pid}: errno {Marshal.GetLastPInvokeError()}");
    }
}
