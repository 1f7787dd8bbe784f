using Tinyo.Rt.Cgroups;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// <c>linux.resources.blockIO</c>, <c>hugepageLimits</c>, <c>network</c>, <c>rdma</c> and <c>unified</c>: applied where
/// the host has the controller, refused with the field's name where it cannot enforce them — never run without them
/// (runc refuses such a config on this host too). This host mounts blkio (throttles only: no CFQ/BFQ weight) but not
/// hugetlb, net_cls, net_prio or rdma; each test skips, with the reason, on a host where its premise does not hold.
/// </summary>
[Collection("containers")]
public sealed class CgroupOtherLimitsTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    private static CgroupHost Host => CgroupHost.Current;
    private static bool V1 => !Host.IsV2 && Host.V1.Count > 0;
    private static string? Blkio => V1 ? Host.V1MountOf("blkio") : null;

    /// <summary>A whole disk's major:minor (blk-throttle takes disks, not partitions).</summary>
    private static (long Major, long Minor)? Disk()
    {
        if (!Directory.Exists("/sys/block")) return null;
        foreach (var d in Directory.GetDirectories("/sys/block").OrderBy(d => Path.GetFileName(d).StartsWith("loop") ? 1 : 0))
        {
            var dev = File.ReadAllText(Path.Combine(d, "dev")).Trim().Split(':');
            if (dev.Length == 2 && long.TryParse(dev[0], out var ma) && long.TryParse(dev[1], out var mi)) return (ma, mi);
        }
        return null;
    }

    [SkippableFact]
    public void BlkioThrottlesReachTheContainersBlkioCgroupAndItIsRemovedAfterwards()
    {
        Skip.If(Blkio is null, "no v1 blkio hierarchy mounted");
        Skip.IfNot(File.Exists(Path.Combine(Blkio!, "blkio.throttle.read_bps_device")), "the kernel has no blk-throttle");
        var disk = Disk();
        Skip.If(disk is null, "no block device under /sys/block");
        var (ma, mi) = disk!.Value;
        using var b = new TestBundle("true");
        b.Spec.Linux!.Resources!.BlockIO = new SpecBlockIO
        {
            ThrottleReadBpsDevice = [new SpecThrottleDevice { Major = ma, Minor = mi, Rate = 1 << 20 }],
            ThrottleWriteIOPSDevice = [new SpecThrottleDevice { Major = ma, Minor = mi, Rate = 77 }],
        };
        var id = ContainerHarness.NewId("blkio");
        string? bps = null, iops = null;
        var (st, _) = _h.Run(b, id, started: _ =>
        {
            bps = File.ReadAllText(Path.Combine(Blkio!, "tinyo", id, "blkio.throttle.read_bps_device"));
            iops = File.ReadAllText(Path.Combine(Blkio!, "tinyo", id, "blkio.throttle.write_iops_device"));
        });
        Assert.Equal(0, st.Code);
        Assert.Equal($"{ma}:{mi} {1 << 20}\n", bps);
        Assert.Equal($"{ma}:{mi} 77\n", iops); // _h.Run asserted blkio/tinyo/ID is gone again
    }

    [SkippableFact]
    public void AnEmptyBlockIOObjectAsEnginesSendItNeedsNoBlkioCgroup()
    {
        Skip.IfNot(V1, "not a cgroup v1 host");
        using var b = new TestBundle("true");
        b.Spec.Linux!.Resources!.BlockIO = new SpecBlockIO { Weight = 0, WeightDevice = [] };
        b.Spec.Linux.Resources.HugepageLimits = [];
        b.Spec.Linux.Resources.Network = new SpecNetwork();
        var (st, _) = _h.Run(b);
        Assert.Equal(0, st.Code);
    }

    [SkippableFact]
    public void ABlkioWeightWithoutACfqOrBfqSchedulerIsRefusedNamingTheFieldAndLeavesNothing()
    {
        Skip.If(Blkio is null, "no v1 blkio hierarchy mounted");
        Skip.If(File.Exists(Path.Combine(Blkio!, "blkio.weight")) || File.Exists(Path.Combine(Blkio!, "blkio.bfq.weight")),
            "this host's blkio has a weight file: a weight is applied here, not refused");
        using var b = new TestBundle("true");
        b.Spec.Linux!.Resources!.BlockIO = new SpecBlockIO { Weight = 300 };
        AssertRefused(b, "linux.resources.blockIO.weight");
    }

    [SkippableFact]
    public void HugepageLimitsWithoutAHugetlbHierarchyAreRefusedNamingTheField()
    {
        Skip.IfNot(V1, "not a cgroup v1 host");
        Skip.If(Host.V1MountOf("hugetlb") is not null, "hugetlb is mounted here: the limit is applied, not refused");
        using var b = new TestBundle("true");
        b.Spec.Linux!.Resources!.HugepageLimits = [new SpecHugepageLimit { PageSize = "2MB", Limit = 0 }];
        AssertRefused(b, "linux.resources.hugepageLimits");
    }

    [SkippableTheory]
    [InlineData("net_cls", "linux.resources.network.classID")]
    [InlineData("net_prio", "linux.resources.network.priorities")]
    public void NetworkClassAndPrioritiesWithoutTheirHierarchyAreRefusedNamingTheField(string controller, string field)
    {
        Skip.IfNot(V1, "not a cgroup v1 host");
        Skip.If(Host.V1MountOf(controller) is not null, controller + " is mounted here: the limit is applied, not refused");
        using var b = new TestBundle("true");
        b.Spec.Linux!.Resources!.Network = controller == "net_cls"
            ? new SpecNetwork { ClassID = 0x100001 }
            : new SpecNetwork { Priorities = [new SpecInterfacePriority { Name = "lo", Priority = 3 }] };
        AssertRefused(b, field);
    }

    [SkippableFact]
    public void UnifiedKeysAndRdmaOnThisV1HostAreRefusedNamingTheField()
    {
        Skip.IfNot(V1, "not a cgroup v1 host");
        using (var b = new TestBundle("true"))
        {
            b.Spec.Linux!.Resources!.Unified = new() { ["memory.high"] = "1000000" };
            AssertRefused(b, "linux.resources.unified");
        }
        Skip.If(Host.V1MountOf("rdma") is not null, "rdma is mounted here");
        using (var b = new TestBundle("true"))
        {
            b.Spec.Linux!.Resources!.Rdma = new() { ["mlx5_0"] = new SpecRdma { HcaHandles = 2 } };
            AssertRefused(b, "linux.resources.rdma");
        }
    }

    [SkippableFact]
    public void UpdateOfAThrottleOnAContainerWithoutBlkioIsRefusedNotIgnored()
    {
        Skip.IfNot(V1, "not a cgroup v1 host");
        var rel = "tinyo/upd-" + Guid.NewGuid().ToString("N")[..8];
        var cg = Cgroup.Create(Host, rel, new SpecResources { Pids = new SpecPids { Limit = 10 } }, null);
        try
        {
            var e = Assert.Throws<RtException>(() => cg.Update(new SpecResources
            {
                BlockIO = new SpecBlockIO { ThrottleReadBpsDevice = [new SpecThrottleDevice { Major = 254, Minor = 0, Rate = 1 }] },
            }, null));
            Assert.Contains("linux.resources.blockIO", e.Message);
        }
        finally { cg.Destroy(); }
        Assert.All(Host.V1, h => Assert.False(Directory.Exists(Path.Combine(h.MountPoint, rel)), $"{h.MountPoint}/{rel} left behind"));
    }

    private void AssertRefused(TestBundle b, string field)
    {
        var id = ContainerHarness.NewId("refuse");
        _h.Track(id);
        var e = Assert.Throws<RtException>(() => _h.Runtime().Run(id, b.Write()));
        Assert.Contains(field, e.Message);
        _h.AssertGone(id, b);
    }

    [Fact]
    public void TheV2FilesGetIoMaxIoWeightAndHugetlbAndNetworkIsRefused()
    {
        var root = Directory.CreateTempSubdirectory("tinyo-v2io-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "cgroup.controllers"), "cpu io memory hugetlb pids\n");
            File.WriteAllText(Path.Combine(root, "cgroup.subtree_control"), "");
            var leaf = Path.Combine(root, "tinyo", "c1");
            Directory.CreateDirectory(leaf);
            File.WriteAllText(Path.Combine(root, "tinyo", "cgroup.subtree_control"), "");
            foreach (var f in new[] { "io.max", "io.weight", "hugetlb.2MB.max", "memory.high" })
                File.WriteAllText(Path.Combine(leaf, f), "");
            var host = CgroupHost.PreparedTree(root);
            Cgroup.Create(host, "tinyo/c1", new SpecResources
            {
                BlockIO = new SpecBlockIO { Weight = 1000, ThrottleWriteBpsDevice = [new SpecThrottleDevice { Major = 8, Minor = 0, Rate = 4096 }] },
                HugepageLimits = [new SpecHugepageLimit { PageSize = "2MB", Limit = 0 }],
                Unified = new() { ["memory.high"] = "123456" },
            }, null);
            string Read(string f) => File.ReadAllText(Path.Combine(leaf, f));
            Assert.Equal("default 10000", Read("io.weight")); // runc's conversion: 1000 → 10000
            Assert.Equal("8:0 wbps=4096", Read("io.max"));
            Assert.Equal("0", Read("hugetlb.2MB.max"));
            Assert.Equal("123456", Read("memory.high"));
            Assert.Equal("+memory +cpu +pids +io +hugetlb", File.ReadAllText(Path.Combine(root, "cgroup.subtree_control")));

            var net = Assert.Throws<RtException>(() => Cgroup.Create(host, "tinyo/c1", new SpecResources { Network = new SpecNetwork { ClassID = 1 } }, null));
            Assert.Contains("linux.resources.network", net.Message);
            var leafW = Assert.Throws<RtException>(() => Cgroup.Create(host, "tinyo/c1", new SpecResources { BlockIO = new SpecBlockIO { LeafWeight = 100 } }, null));
            Assert.Contains("linux.resources.blockIO.leafWeight", leafW.Message);
            var size = Assert.Throws<RtException>(() => Cgroup.Create(host, "tinyo/c1", new SpecResources { HugepageLimits = [new SpecHugepageLimit { PageSize = "1GB", Limit = 1 }] }, null));
            Assert.Contains("linux.resources.hugepageLimits[0] (pageSize 1GB)", size.Message);
            var key = Assert.Throws<RtException>(() => Cgroup.Create(host, "tinyo/c1", new SpecResources { Unified = new() { ["../x"] = "1" } }, null));
            Assert.Contains("not a control file name", key.Message);
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    [Fact]
    public void TheBundleReaderAndUpdatesJsonReaderReadTheOciNames()
    {
        var json = """
            {"blockIO": {"weight": 200, "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 9}]},
             "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
             "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 4}]},
             "rdma": {"mlx5_0": {"hcaHandles": 2}}, "unified": {"io.weight": "50"}}
            """u8.ToArray();
        var viaUpdate = ContainerControl.ParseResources(json, "test");
        var config = System.Text.Encoding.UTF8.GetBytes("{\"linux\": {\"resources\": " + System.Text.Encoding.UTF8.GetString(json) + "}}");
        var viaBundle = Bundle.Parse(config).Linux!.Resources!;
        foreach (var r in new[] { viaUpdate, viaBundle })
        {
            Assert.Equal(200u, r.BlockIO!.Weight);
            Assert.Equal(9ul, r.BlockIO.ThrottleReadIOPSDevice![0].Rate);
            Assert.Equal(("2MB", 4194304ul), (r.HugepageLimits![0].PageSize, r.HugepageLimits[0].Limit));
            Assert.Equal(1048577u, r.Network!.ClassID);
            Assert.Equal(("eth0", 4u), (r.Network.Priorities![0].Name, r.Network.Priorities[0].Priority));
            Assert.Equal(2u, r.Rdma!["mlx5_0"].HcaHandles);
            Assert.Equal("50", r.Unified!["io.weight"]);
        }
    }
}
