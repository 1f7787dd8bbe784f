using Tinyo.Rt.Cgroups;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// The cgroup v2 code path. This host is hybrid: its cgroup2 tree (<c>/sys/fs/cgroup/unified</c>) is real but its
/// memory, cpu and pids controllers are bound to v1, so these tests drive containers through the real unified tree for
/// membership, joining and removal, and check the v2 limit files against a prepared directory. What they cannot show
/// here is the kernel enforcing a v2 limit (see docs/architecture.md, cgroups).
/// </summary>
[Collection("containers")]
public sealed class CgroupV2Tests : IDisposable
{
    private const string UnifiedRoot = "/sys/fs/cgroup/unified";
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    private static bool HaveUnifiedTree => File.Exists(Path.Combine(UnifiedRoot, "cgroup.procs"));

    private ContainerRuntime UnifiedRuntime(int stdout)
    {
        return new ContainerRuntime(_h.Root, new RuntimeOptions
        {
            InitCommand = [ContainerHarness.Binary.Path], SealInit = ContainerHarness.Binary.Aot,
            Stdout = stdout, Stderr = stdout, Stdin = 0, Warn = _h.Warnings.Add, Cgroups = CgroupHost.Unified(UnifiedRoot),
        });
    }

    [SkippableTheory]
    [InlineData(true)]   // direct start: the clone child writes "0" to cgroup.procs itself
    [InlineData(false)]  // init path
    public void ContainerRunsInItsOwnUnifiedCgroupAndItIsRemovedAfterwards(bool direct)
    {
        Skip.IfNot(HaveUnifiedTree, "no cgroup2 tree at " + UnifiedRoot);
        using var b = new TestBundle("sh", "-c", "cat /proc/self/cgroup; cat /sys/fs/cgroup/unified/cgroup.procs 2>/dev/null | wc -l");
        // Without a cgroup namespace the container sees its cgroup's full path: the join itself is what is checked.
        b.Spec.Linux!.Namespaces!.RemoveAll(n => n.Type == "cgroup");
        var id = ContainerHarness.NewId("v2");
        _h.Track(id);
        var outFile = Path.Combine(_h.Root.Path, "v2.out");
        string? procsSeen = null;
        using (var f = File.OpenHandle(outFile, FileMode.Create, FileAccess.ReadWrite))
        {
            int fd = (int)f.DangerousGetHandle();
            var st = new ContainerRuntime(_h.Root, new RuntimeOptions
            {
                InitCommand = [ContainerHarness.Binary.Path], SealInit = ContainerHarness.Binary.Aot,
                Stdout = fd, Stderr = fd, Stdin = 0, Warn = _h.Warnings.Add,
                Cgroups = CgroupHost.Unified(UnifiedRoot), DirectStart = direct,
            }).Run(id, b.Write(), pid =>
            {
                var procs = Path.Combine(UnifiedRoot, "tinyo", id, "cgroup.procs");
                procsSeen = File.Exists(procs) ? File.ReadAllText(procs) : "(no cgroup directory)";
            });
            Assert.Equal(0, st.Code);
        }
        var output = File.ReadAllText(outFile);
        Assert.Contains($"0::/tinyo/{id}\n", output);
        Assert.NotNull(procsSeen);
        Assert.DoesNotContain("no cgroup directory", procsSeen);
        _h.AssertGone(id, b);
        Assert.False(Directory.Exists(Path.Combine(UnifiedRoot, "tinyo", id)), "the unified cgroup was left behind");
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void WithoutACgroupNamespaceTheCgroup2MountShowsOnlyTheContainersOwnCgroup(bool direct)
    {
        Skip.IfNot(HaveUnifiedTree, "no cgroup2 tree at " + UnifiedRoot);
        using var b = new TestBundle("sh", "-c",
            "ls /sys/fs/cgroup | grep -c '^tinyo$'; n=0; while read p; do n=$((n+1)); done < /sys/fs/cgroup/cgroup.procs; echo $n; " +
            "{ echo 0 > /sys/fs/cgroup/cgroup.procs; } 2>/dev/null && echo WRITABLE; echo end");
        b.Spec.Mounts!.Add(new SpecMount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "noexec", "nodev", "ro"] });
        b.Spec.Linux!.Namespaces!.RemoveAll(n => n.Type == "cgroup");
        var id = ContainerHarness.NewId("v2view");
        _h.Track(id);
        var outFile = Path.Combine(_h.Root.Path, "v2view.out");
        using (var f = File.OpenHandle(outFile, FileMode.Create, FileAccess.ReadWrite))
        {
            int fd = (int)f.DangerousGetHandle();
            var st = new ContainerRuntime(_h.Root, new RuntimeOptions
            {
                InitCommand = [ContainerHarness.Binary.Path], SealInit = ContainerHarness.Binary.Aot,
                Stdout = fd, Stderr = fd, Stdin = 0, Warn = _h.Warnings.Add,
                Cgroups = CgroupHost.Unified(UnifiedRoot), DirectStart = direct,
            }).Run(id, b.Write());
            Assert.Equal(0, st.Code);
        }
        // Its own cgroup (no tinyo/ below the mount's root, only its shell in cgroup.procs), read-only.
        Assert.Equal("0\n1\nend\n", File.ReadAllText(outFile));
        _h.AssertGone(id, b);
    }

    [SkippableFact]
    public void ALimitWhoseControllerTheTreeLacksIsAClearErrorAndLeavesNothing()
    {
        Skip.IfNot(HaveUnifiedTree, "no cgroup2 tree at " + UnifiedRoot);
        Skip.If(File.ReadAllText(Path.Combine(UnifiedRoot, "cgroup.controllers")).Contains("memory"), "the unified tree has the memory controller (a true v2 host): no controller is missing to refuse");
        using var b = new TestBundle("true");
        b.Spec.Linux!.Resources = new SpecResources { Memory = new SpecMemory { Limit = 64 << 20 } };
        var id = ContainerHarness.NewId("v2lim");
        _h.Track(id);
        var e = Assert.Throws<RtException>(() => UnifiedRuntime(1).Run(id, b.Write()));
        Assert.Contains("memory.max", e.Message);
        _h.AssertGone(id, b);
        Assert.False(Directory.Exists(Path.Combine(UnifiedRoot, "tinyo", id)), "the unified cgroup was left behind");
        // Only this class uses the unified tree here: the shared parent goes with the last container, also on failure.
        Assert.False(Directory.Exists(Path.Combine(UnifiedRoot, "tinyo")), "the shared tinyo/ parent was left behind");
    }

    [SkippableFact]
    public void ParentsMadeForANestedPathGoWithTheLastContainerAndEachLeafHasItsDeviceFilter()
    {
        Skip.If(!HaveUnifiedTree, "no cgroup2 mount on this host");
        var top = "tinyo-nest-" + Guid.NewGuid().ToString("N")[..8];
        var host = CgroupHost.Unified(UnifiedRoot);
        try
        {
            var a = Cgroup.Create(host, $"{top}/mid/a", null, null);
            var b = Cgroup.Create(host, $"{top}/mid/b", null, null);
            Assert.Single(Cgroups.DeviceProgram.Attached(Path.Combine(UnifiedRoot, top, "mid", "a")));
            Assert.Single(Cgroups.DeviceProgram.Attached(Path.Combine(UnifiedRoot, top, "mid", "b")));
            Assert.Empty(Cgroups.DeviceProgram.Attached(Path.Combine(UnifiedRoot, top, "mid"))); // only leaves get one
            a.Destroy();
            Assert.True(Directory.Exists(Path.Combine(UnifiedRoot, top, "mid")), "the parent went while b was in it");
            b.Destroy();
            Assert.False(Directory.Exists(Path.Combine(UnifiedRoot, top)), "parents made for the path were left behind");
            Assert.False(CgroupAncestors.WasMade(Path.Combine(UnifiedRoot, top)));
        }
        finally
        {
            foreach (var d in new[] { $"{top}/mid/a", $"{top}/mid/b", $"{top}/mid", top })
                try { if (Directory.Exists(Path.Combine(UnifiedRoot, d))) Directory.Delete(Path.Combine(UnifiedRoot, d)); } catch (IOException) { }
        }
    }

    [Fact]
    public void LimitsAreWrittenInTheUnifiedHierarchysFilesAndUnits()
    {
        // A prepared directory stands for a cgroup2 tree with all three controllers: the files and values are runc's
        // (cpu.weight from shares by runc's formula, cpu.max "quota period", swap as the excess over memory).
        var root = Directory.CreateTempSubdirectory("tinyo-v2-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n");
            File.WriteAllText(Path.Combine(root, "cgroup.subtree_control"), "");
            var leaf = Path.Combine(root, "tinyo", "c1");
            Directory.CreateDirectory(leaf);
            File.WriteAllText(Path.Combine(root, "tinyo", "cgroup.subtree_control"), "");
            foreach (var f in new[] { "memory.max", "memory.low", "memory.swap.max", "cpu.weight", "cpu.max", "pids.max" })
                File.WriteAllText(Path.Combine(leaf, f), "");
            var cg = Cgroup.Create(CgroupHost.PreparedTree(root), "tinyo/c1", new SpecResources
            {
                Memory = new SpecMemory { Limit = 64 << 20, Reservation = 32 << 20, Swap = 96 << 20 },
                Cpu = new SpecCpu { Shares = 512, Quota = 25000, Period = 50000 },
                Pids = new SpecPids { Limit = 99 },
            }, null);
            Assert.True(cg.IsV2);
            Assert.Equal([leaf], cg.Directories);
            string Read(string f) => File.ReadAllText(Path.Combine(leaf, f));
            Assert.Equal($"{64 << 20}", Read("memory.max"));
            Assert.Equal($"{32 << 20}", Read("memory.low"));
            Assert.Equal($"{32 << 20}", Read("memory.swap.max"));
            Assert.Equal("20", Read("cpu.weight"));
            Assert.Equal("25000 50000", Read("cpu.max"));
            Assert.Equal("99", Read("pids.max"));
            // Every ancestor delegates the controllers the host has to its children.
            Assert.Equal("+memory +cpu +pids", File.ReadAllText(Path.Combine(root, "cgroup.subtree_control")));
            Assert.Equal("+memory +cpu +pids", File.ReadAllText(Path.Combine(root, "tinyo", "cgroup.subtree_control")));
        }
        finally { Directory.Delete(root, recursive: true); }
    }
}
