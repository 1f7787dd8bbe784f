using Tinyo.Rt.Cgroups;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// <c>linux.resources.cpu.cpus</c>/<c>mems</c> (cpuset), as the OCI runtime-tools tests <c>linux_cgroups_cpus</c> and
/// <c>linux_cgroups_relative_cpus</c> check them on this v1 host: the container's cpuset cgroup has the values, at the
/// path <c>/proc/PID/cgroup</c> names; parents made for a nested path get their cpus/mems copied down (a new v1
/// cpuset cgroup starts empty and cannot be joined), and every directory made is removed again.
/// </summary>
[Collection("containers")]
public sealed class CgroupCpusetTests : IDisposable
{
    private const string CpusetRoot = "/sys/fs/cgroup/cpuset";
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    private static bool HaveCpuset => CgroupHost.Current is { IsV2: false } h && h.V1MountOf("cpuset") == CpusetRoot;
    private static string AllCpus => Environment.ProcessorCount == 1 ? "0" : $"0-{Environment.ProcessorCount - 1}";

    private static string[] Hierarchies => CgroupHost.Current.V1.Select(h => h.MountPoint).ToArray();

    [SkippableTheory]
    [InlineData(false)] // relative, as runtime-tools' "testdir/cgrouptest/container": parents are made
    [InlineData(true)]  // absolute, as its "/cgrouptest"
    public void CpusAndMemsReachTheContainersCpusetAndEverythingMadeIsRemoved(bool absolute)
    {
        Skip.If(!HaveCpuset, "no v1 cpuset hierarchy at /sys/fs/cgroup/cpuset");
        var top = "tinyo-cpuset-" + Guid.NewGuid().ToString("N")[..8];
        var rel = absolute ? top : $"{top}/cgrouptest/container";
        try
        {
            using var b = new TestBundle("sh", "-c", "grep :cpuset: /proc/self/cgroup");
            b.Spec.Linux!.Namespaces!.RemoveAll(n => n.Type == "cgroup");
            b.Spec.Linux.CgroupsPath = absolute ? "/" + rel : rel;
            b.Spec.Linux.Resources!.Cpu = new SpecCpu { Shares = 1024, Quota = 50000, Period = 100000, Cpus = AllCpus, Mems = "0" };
            string? cpus = null, mems = null, parentCpus = null;
            var (st, output) = _h.Run(b, started: _ =>
            {
                cpus = File.ReadAllText(Path.Combine(CpusetRoot, rel, "cpuset.cpus")).Trim();
                mems = File.ReadAllText(Path.Combine(CpusetRoot, rel, "cpuset.mems")).Trim();
                parentCpus = File.ReadAllText(Path.Combine(CpusetRoot, Path.GetDirectoryName(rel)!, "cpuset.cpus")).Trim();
            });
            Assert.Equal(0, st.Code);
            Assert.Matches($"^[0-9]+:cpuset:/{rel}\n$", output); // where runtime-tools looks for it
            Assert.Equal(AllCpus, cpus);
            Assert.Equal("0", mems);
            Assert.Equal(AllCpus, parentCpus); // the root's, or copied into the parent made for the nested path
            Assert.DoesNotContain(_h.Warnings, w => w.Contains("cpuset"));
            foreach (var h in Hierarchies)
            {
                Assert.False(Directory.Exists(Path.Combine(h, top)), $"{h}/{top} left behind");
                Assert.False(CgroupAncestors.WasMade(Path.Combine(h, top)), $"the marker of {h}/{top} left behind");
            }
        }
        finally { RemoveTree(top); }
    }

    [SkippableFact]
    public void ACpuListTheHostCannotGiveIsAClearErrorAndLeavesNoDirectoryBehind()
    {
        Skip.If(!HaveCpuset, "no v1 cpuset hierarchy");
        var top = "tinyo-cpuset-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            using var b = new TestBundle("true");
            b.Spec.Linux!.CgroupsPath = $"{top}/a/c";
            b.Spec.Linux.Resources!.Cpu = new SpecCpu { Cpus = "0-4095" };
            var id = ContainerHarness.NewId("cpusetbad");
            _h.Track(id);
            var e = Assert.Throws<RtException>(() => _h.Runtime().Run(id, b.Write()));
            Assert.Contains("cpuset.cpus", e.Message);
            Assert.Contains("0-4095", e.Message);
            _h.AssertGone(id, b);
            foreach (var h in Hierarchies)
                Assert.False(Directory.Exists(Path.Combine(h, top)), $"{h}/{top} left behind");
        }
        finally { RemoveTree(top); }
    }

    [SkippableFact]
    public void AParentThatExistedBeforeStaysOnlyTheOnesMadeGo()
    {
        Skip.If(!HaveCpuset, "no v1 cpuset hierarchy");
        var top = "tinyo-cpuset-" + Guid.NewGuid().ToString("N")[..8];
        var mine = Path.Combine(CpusetRoot, top);
        Directory.CreateDirectory(mine); // someone else's, with empty cpus/mems: the runtime fills them, as runc does
        try
        {
            using var b = new TestBundle("true");
            b.Spec.Linux!.CgroupsPath = $"/{top}/mid/c";
            b.Spec.Linux.Resources!.Cpu = new SpecCpu { Cpus = "0", Mems = "0" };
            var (st, _) = _h.Run(b);
            Assert.Equal(0, st.Code);
            Assert.True(Directory.Exists(mine), "a parent the runtime did not make was removed");
            Assert.False(Directory.Exists(Path.Combine(mine, "mid")), "the parent the runtime made was left behind");
            Assert.False(Directory.Exists(Path.Combine("/sys/fs/cgroup/memory", top)), "memory/" + top + " (made by the runtime) left behind");
        }
        finally { RemoveTree(top); }
    }

    [SkippableFact]
    public void TwoContainersUnderOneMadeParentTheLastOutRemovesIt()
    {
        Skip.If(!HaveCpuset, "no v1 cpuset hierarchy");
        var top = "tinyo-cpuset-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            var host = CgroupHost.Current;
            var r = new SpecResources { Cpu = new SpecCpu { Cpus = "0" } };
            var a = Cgroup.Create(host, $"{top}/a", r, null);
            var c = Cgroup.Create(host, $"{top}/b", r, null);
            Assert.Equal("0", File.ReadAllText(Path.Combine(CpusetRoot, top, "b", "cpuset.cpus")).Trim());
            a.Destroy();
            Assert.True(Directory.Exists(Path.Combine(CpusetRoot, top)), "the shared parent went while a container was in it");
            c.Destroy();
            foreach (var h in Hierarchies)
                Assert.False(Directory.Exists(Path.Combine(h, top)), $"{h}/{top} left behind");
        }
        finally { RemoveTree(top); }
    }

    [SkippableFact]
    public void UpdateNarrowsTheCpusetAndWarnsWhenTheContainerHasNone()
    {
        Skip.If(!HaveCpuset, "no v1 cpuset hierarchy");
        var top = "tinyo-cpuset-" + Guid.NewGuid().ToString("N")[..8];
        var id = "tinyo-upd-" + Guid.NewGuid().ToString("N")[..8];
        var warnings = new List<string>();
        Cgroup? engine = null, plain = null;
        try
        {
            // An engine's container (it names its cgroup) is in a cpuset of its own even without cpus in its spec,
            // so `docker update --cpuset-cpus` (containerd passes linux.resources) can narrow it later.
            engine = Cgroup.Create(CgroupHost.Current, $"{top}/c", null, warnings.Add);
            Assert.Equal(AllCpus, File.ReadAllText(Path.Combine(CpusetRoot, top, "c", "cpuset.cpus")).Trim());
            engine.Update(new SpecResources { Cpu = new SpecCpu { Cpus = "0", Mems = "0" } }, warnings.Add);
            Assert.Equal("0", File.ReadAllText(Path.Combine(CpusetRoot, top, "c", "cpuset.cpus")).Trim());
            Assert.Empty(warnings);
            // A default-path container without cpus/mems was not put in a cpuset: the update says so.
            plain = Cgroup.Create(CgroupHost.Current, $"{CgroupPath.DefaultParent}/{id}", null, warnings.Add);
            Assert.False(Directory.Exists(Path.Combine(CpusetRoot, CgroupPath.DefaultParent, id)));
            plain.Update(new SpecResources { Cpu = new SpecCpu { Cpus = "0" } }, warnings.Add);
            Assert.Contains(warnings, w => w.Contains("cpus/mems ignored"));
        }
        finally
        {
            engine?.Destroy();
            plain?.Destroy();
            RemoveTree(top);
        }
        foreach (var h in Hierarchies) Assert.False(Directory.Exists(Path.Combine(h, top)), $"{h}/{top} left behind");
    }

    [Fact]
    public void OnV2TheCpusetFilesAreWrittenAndTheControllerDelegated()
    {
        var root = Directory.CreateTempSubdirectory("tinyo-v2-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "cgroup.controllers"), "cpuset cpu io memory pids\n");
            File.WriteAllText(Path.Combine(root, "cgroup.subtree_control"), "");
            var leaf = Path.Combine(root, "tinyo", "c1");
            Directory.CreateDirectory(leaf);
            File.WriteAllText(Path.Combine(root, "tinyo", "cgroup.subtree_control"), "");
            foreach (var f in new[] { "cpuset.cpus", "cpuset.mems" }) File.WriteAllText(Path.Combine(leaf, f), "");
            var r = new SpecResources { Cpu = new SpecCpu { Cpus = "0-1", Mems = "0" } };
            Cgroup.Create(CgroupHost.PreparedTree(root), "tinyo/c1", r, null);
            Assert.Equal("0-1", File.ReadAllText(Path.Combine(leaf, "cpuset.cpus")));
            Assert.Equal("0", File.ReadAllText(Path.Combine(leaf, "cpuset.mems")));
            Assert.Equal("+memory +cpu +pids +cpuset", File.ReadAllText(Path.Combine(root, "cgroup.subtree_control")));
            Assert.Equal("+memory +cpu +pids +cpuset", File.ReadAllText(Path.Combine(root, "tinyo", "cgroup.subtree_control")));
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    /// <summary>Whatever a failed test left under <paramref name="top"/> in any hierarchy, deepest first.</summary>
    private static void RemoveTree(string top)
    {
        foreach (var h in Hierarchies)
        {
            var d = Path.Combine(h, top);
            if (!Directory.Exists(d)) continue;
            foreach (var sub in Directory.GetDirectories(d, "*", SearchOption.AllDirectories).OrderByDescending(s => s.Length).Append(d))
                try { Directory.Delete(sub); } catch (IOException) { }
        }
    }
}
