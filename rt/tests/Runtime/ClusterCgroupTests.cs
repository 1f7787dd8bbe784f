using Tinyo.Rt.Cgroups;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Tests.Network.Direct;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// The <see cref="ClusterCgroup"/> annotation: the container's process is born in the named cgroup v2 directory
/// (clone3 CLONE_INTO_CGROUP on the direct start; moved by the parent on the init path) besides its own cgroups, and
/// a bad directory is a clear error that leaves nothing.
/// </summary>
[Collection("containers")]
public sealed class ClusterCgroupTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    private readonly string? _dir;

    public ClusterCgroupTests()
    {
        if (DirectScratch.Cgroup2Root is { } root)
            Directory.CreateDirectory(_dir = Path.Combine(root, "tinyo-test-cc-" + Guid.NewGuid().ToString("N")[..8]));
    }

    public void Dispose()
    {
        _h.Dispose();
        if (_dir is not null && Directory.Exists(_dir)) Directory.Delete(_dir);
    }

    private (int Code, string Out) Run(bool direct, string? dir)
    {
        var b = new TestBundle("sh", "-c", "cat /proc/self/cgroup");
        b.Spec.Annotations = new() { [ClusterCgroup.Annotation] = dir! };
        // Without a cgroup namespace the unified line shows the host's path (with one, every line reads "/").
        b.Spec.Linux!.Namespaces!.RemoveAll(n => n.Type == "cgroup");
        var id = ContainerHarness.NewId(direct ? "ccd" : "cci");
        _h.Track(id);
        var outFile = Path.Combine(_h.Root.Path, id + ".out");
        using var f = File.OpenHandle(outFile, FileMode.Create, FileAccess.ReadWrite);
        var (path, aot) = ContainerHarness.Binary;
        var rt = new ContainerRuntime(_h.Root, new RuntimeOptions
        {
            InitCommand = [path], SealInit = aot, Stdout = (int)f.DangerousGetHandle(), Stderr = (int)f.DangerousGetHandle(), DirectStart = direct,
        });
        try
        {
            var st = rt.Run(id, b.Write());
            return (st.Code, File.ReadAllText(outFile));
        }
        finally
        {
            _h.AssertGone(id, b);
            b.Dispose();
        }
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheProcessIsBornInTheClusterDirectory(bool direct)
    {
        Skip.If(DirectScratch.Missing is not null, DirectScratch.Missing);
        var (code, output) = Run(direct, _dir);
        Assert.Equal(0, code);
        // The unified hierarchy's line (0::) names the cluster directory, and the process ran there from its start.
        Assert.Contains("0::/" + Path.GetRelativePath(DirectScratch.Cgroup2Root!, _dir!) + "\n", output);
        Assert.Empty(File.ReadAllText(Path.Combine(_dir!, "cgroup.procs")).Trim()); // gone with the process
    }

    [SkippableFact]
    public void TheDirectoryReallyHoldsTheProcessWhileItRuns()
    {
        Skip.If(DirectScratch.Missing is not null, DirectScratch.Missing);
        var b = new TestBundle("sh", "-c", "sleep 30");
        b.Spec.Annotations = new() { [ClusterCgroup.Annotation] = _dir! };
        var id = ContainerHarness.NewId("ccr");
        _h.Track(id);
        var rt = _h.Runtime();
        try
        {
            var launched = rt.Launch(id, b.Write(), detached: false);
            try
            {
                var procs = File.ReadAllText(Path.Combine(_dir!, "cgroup.procs")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.Equal([launched.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)], procs);
                var rel = "0::/" + Path.GetRelativePath(DirectScratch.Cgroup2Root!, _dir!);
                Assert.Contains(rel, File.ReadAllText($"/proc/{launched.Pid}/cgroup"));
            }
            finally
            {
                launched.Signal(9);
                launched.Wait();
            }
        }
        finally
        {
            _h.AssertGone(id, b);
            b.Dispose();
        }
    }

    [SkippableFact]
    public void ADirectoryThatIsNotCgroupV2IsAClearError()
    {
        Skip.If(DirectScratch.Missing is not null, DirectScratch.Missing);
        var plain = Directory.CreateTempSubdirectory("tinyo-cc-plain-").FullName;
        try
        {
            var e = Assert.Throws<RtException>(() => Run(direct: true, plain));
            Assert.Contains("is not a cgroup v2 directory", e.Message);
            var missing = Assert.Throws<RtException>(() => Run(direct: true, Path.Combine(_dir!, "nope")));
            Assert.Contains(ClusterCgroup.Annotation, missing.Message);
        }
        finally { Directory.Delete(plain); }
    }
}
