using Tinyo.Rt.Cgroups;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// The runtime-spec limits that were read and dropped before (issue 16): <c>cpu.idle</c>, <c>cpu.burst</c>,
/// <c>cpu.realtimePeriod</c>/<c>realtimeRuntime</c> and <c>memory.kernelTCP</c> reach the container's cgroup on this
/// v1 host, a host without the file refuses naming the field, and <c>memory.kernel</c> (deprecated by the spec) is
/// ignored with a warning, as runc and crun do.
/// </summary>
[Collection("containers")]
public sealed class CgroupTuningTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    private static string? V1(string controller) => CgroupHost.Current is { IsV2: false } h ? h.V1MountOf(controller) : null;

    [SkippableFact]
    public void IdleBurstAndKernelTcpReachTheCgroupAndKernelMemoryIsIgnoredWithAWarning()
    {
        var cpu = V1("cpu");
        var mem = V1("memory");
        Skip.If(cpu is null || mem is null, "no v1 cpu and memory hierarchies");
        Skip.If(!File.Exists(Path.Combine(cpu!, "cpu.idle")) || !File.Exists(Path.Combine(cpu!, "cpu.cfs_burst_us")), "the kernel has no cpu.idle / cpu.cfs_burst_us");
        Skip.If(!File.Exists(Path.Combine(mem!, "memory.kmem.tcp.limit_in_bytes")), "the kernel has no memory.kmem.tcp.limit_in_bytes");
        var rel = "tinyo-tuning-" + Guid.NewGuid().ToString("N")[..8];
        using var b = new TestBundle("true");
        b.Spec.Linux!.CgroupsPath = "/" + rel;
        b.Spec.Linux.Resources!.Cpu = new SpecCpu { Quota = 50000, Period = 100000, Burst = 20000, Idle = 1 };
        b.Spec.Linux.Resources.Memory = new SpecMemory { Limit = 64 << 20, KernelTcp = 8 << 20, Kernel = 32 << 20 };
        string? idle = null, burst = null, tcp = null;
        var (st, _) = _h.Run(b, started: _ =>
        {
            idle = File.ReadAllText(Path.Combine(cpu!, rel, "cpu.idle")).Trim();
            burst = File.ReadAllText(Path.Combine(cpu!, rel, "cpu.cfs_burst_us")).Trim();
            tcp = File.ReadAllText(Path.Combine(mem!, rel, "memory.kmem.tcp.limit_in_bytes")).Trim();
        });
        Assert.Equal(0, st.Code);
        Assert.Equal("1", idle);
        Assert.Equal("20000", burst);
        Assert.Equal((8 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), tcp);
        Assert.Contains(_h.Warnings, w => w.Contains("linux.resources.memory.kernel ignored"));
        Assert.False(Directory.Exists(Path.Combine(cpu!, rel)), "the cgroup was left behind");
    }

    [SkippableFact]
    public void ARealtimeBudgetTheHostCannotGiveIsAClearErrorNamingTheField()
    {
        var cpu = V1("cpu");
        Skip.If(cpu is null, "no v1 cpu hierarchy");
        var rel = "tinyo-tuning-" + Guid.NewGuid().ToString("N")[..8];
        using var b = new TestBundle("true");
        b.Spec.Linux!.CgroupsPath = "/" + rel;
        // More real-time time than any period has: refused by the kernel (EINVAL), or the file is absent
        // (CONFIG_RT_GROUP_SCHED off) — either way an error naming the field, and nothing left.
        b.Spec.Linux.Resources!.Cpu = new SpecCpu { RealtimePeriod = 100000, RealtimeRuntime = 200000 };
        var id = ContainerHarness.NewId("rtbad");
        _h.Track(id);
        var e = Assert.Throws<RtException>(() => _h.Runtime().Run(id, b.Write()));
        Assert.Contains("linux.resources.cpu.realtime", e.Message);
        _h.AssertGone(id, b);
        Assert.False(Directory.Exists(Path.Combine(cpu!, rel)), "the cgroup was left behind");
    }

    [Fact]
    public void OnV2BurstAndIdleAreWrittenAndRealtimeAndKernelTcpAreRefused()
    {
        var root = Directory.CreateTempSubdirectory("tinyo-v2-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "cgroup.controllers"), "cpu memory pids\n");
            File.WriteAllText(Path.Combine(root, "cgroup.subtree_control"), "");
            var leaf = Path.Combine(root, "tinyo", "c1");
            Directory.CreateDirectory(leaf);
            File.WriteAllText(Path.Combine(root, "tinyo", "cgroup.subtree_control"), "");
            foreach (var f in new[] { "cpu.max", "cpu.max.burst", "cpu.idle" }) File.WriteAllText(Path.Combine(leaf, f), "");
            var warnings = new List<string>();
            var r = new SpecResources { Cpu = new SpecCpu { Quota = 50000, Period = 100000, Burst = 10000, Idle = 1 }, Memory = new SpecMemory { Kernel = 1 << 20 } };
            Cgroup.Create(CgroupHost.PreparedTree(root), "tinyo/c1", r, warnings.Add);
            Assert.Equal("10000", File.ReadAllText(Path.Combine(leaf, "cpu.max.burst")));
            Assert.Equal("1", File.ReadAllText(Path.Combine(leaf, "cpu.idle")));
            Assert.Contains(warnings, w => w.Contains("linux.resources.memory.kernel ignored"));

            var rt = new SpecResources { Cpu = new SpecCpu { RealtimeRuntime = 1000 } };
            Assert.Contains("realtimeRuntime/realtimePeriod: cgroup v2 has no real-time",
                Assert.Throws<RtException>(() => Cgroup.Create(CgroupHost.PreparedTree(root), "tinyo/c1", rt, null)).Message);
            var tcp = new SpecResources { Memory = new SpecMemory { KernelTcp = 1 << 20 } };
            Assert.Contains("linux.resources.memory.kernelTCP: cgroup v2 has no kernel TCP",
                Assert.Throws<RtException>(() => Cgroup.Create(CgroupHost.PreparedTree(root), "tinyo/c1", tcp, null)).Message);
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void TheSpecReaderReadsTheFieldsAndTheWriterKeepsTheirSpecNames()
    {
        var json = """{"ociVersion":"1.0.2","linux":{"resources":{"memory":{"kernel":1,"kernelTCP":2},"cpu":{"realtimeRuntime":3,"realtimePeriod":4,"idle":1,"burst":5}}}}""";
        var s = SpecReader.Read(System.Text.Encoding.UTF8.GetBytes(json));
        var r = s.Linux!.Resources!;
        Assert.Equal((1L, 2L), (r.Memory!.Kernel, r.Memory.KernelTcp));
        Assert.Equal((3L, 4UL, 1L, 5UL), (r.Cpu!.RealtimeRuntime, r.Cpu.RealtimePeriod, r.Cpu.Idle, r.Cpu.Burst));
        var written = System.Text.Json.JsonSerializer.Serialize(r, OciJson.Default.SpecResources);
        Assert.Contains("\"kernelTCP\": 2", written);
        Assert.Contains("\"realtimeRuntime\": 3", written);
    }
}
