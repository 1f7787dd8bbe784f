using BenchmarkDotNet.Attributes;
using Tinyo.Bench.Env;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Bench.Benchmarks;

/// <summary>
/// Pull of the busybox test image from Debian's docker-registry on loopback into a fresh, empty root each iteration
/// (making and deleting the root is excluded from the timing). tinyort verifies and unpacks the layer (with syncfs);
/// skopeo only copies the blobs into an OCI layout; podman pulls into its own temp vfs store (which unpacks).
/// </summary>
[IterationCount(20)]
public class Pull
{
    private TestRegistry? _registry;
    private TempDir? _work;
    private string _ref = "";
    private string _dir = "";
    private int _n;

    [GlobalSetup]
    public void Setup()
    {
        var img = BusyboxImage.Get();
        _registry = new TestRegistry();
        _registry.Push(img.Layout, img.Tag, "bench/busybox:latest");
        _ref = $"{_registry.Host}/bench/busybox:latest";
        _work = new TempDir("tinyo-bench-pull-");
    }

    [IterationSetup]
    public void FreshRoot()
    {
        _dir = Path.Combine(_work!.Path, (++_n).ToString());
        Directory.CreateDirectory(_dir);
    }

    [IterationCleanup]
    public void DropRoot()
    {
        Peers.UnmountUnder(_dir);
        Tinyo.Rt.Images.ImageGc.DeleteTree(_dir);
    }

    [Benchmark(Baseline = true, Description = "skopeo copy docker:// oci: (no unpack)")]
    public void Skopeo() =>
        Cmd.Run("skopeo", "copy", "-q", "--src-tls-verify=false", $"docker://{_ref}", $"oci:{_dir}/layout:latest");

    [Benchmark(Description = "podman pull (vfs, temp root)")]
    public void Podman() => Cmd.Run("podman", Peers.Podman(_dir, "pull", "-q", "--tls-verify=false", _ref));

    [Benchmark(Description = "tinyort pull")]
    public void Tinyort() => Cmd.Run(Peers.Tinyort, "--root", _dir, "pull", "-q", _ref);

    [GlobalCleanup]
    public void Cleanup()
    {
        _registry?.Dispose();
        if (_work is not null)
        {
            Peers.UnmountUnder(_work.Path);
            _work.Dispose();
        }
    }
}
