using System.Text.Json;
using Tinyo.Rt.Cgroups;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Processes;
using Tinyo.Rt.Rootfs;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>Pure parsing: config.json, mount options, signals, the host's cgroup layout, the init message.</summary>
public sealed class SpecParsingTests
{
    private static Spec Rich()
    {
        var s = TestBundle.DefaultSpec(["sh", "-c", "echo \"quoted\" \\ back"]);
        s.Domainname = "example";
        s.Annotations = new() { ["a"] = "1", ["b.c"] = "x y" };
        s.Process!.User = new SpecUser { Uid = 7, Gid = 8, Umask = 18, AdditionalGids = [1, 2, 3] };
        s.Process.Rlimits = [new() { Type = "RLIMIT_NOFILE", Soft = 10, Hard = 20 }];
        s.Process.OomScoreAdj = -17;
        s.Process.Capabilities!.Ambient = ["CAP_KILL"];
        s.Process.Capabilities.Inheritable = ["CAP_KILL"];
        s.Hooks = new SpecHooks { Prestart = [new SpecHook { Path = "/bin/x", Args = ["x"], Timeout = 3 }] };
        s.Linux!.Devices = [new SpecDevice { Type = "c", Path = "/dev/fuse", Major = 10, Minor = 229, FileMode = 438, Uid = 0, Gid = 0 }];
        s.Linux.CgroupsPath = "/tinyo/x";
        s.Linux.RootfsPropagation = "rprivate";
        s.Linux.Sysctl = new() { ["net.ipv4.ip_forward"] = "1" };
        s.Linux.Namespaces!.Add(new SpecNamespace { Type = "user", Path = "/proc/1/ns/user" });
        s.Linux.Resources = new SpecResources
        {
            Devices = [new SpecDeviceRule { Allow = false, Access = "rwm" }, new SpecDeviceRule { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rw" }],
            Memory = new SpecMemory { Limit = 1 << 20, Reservation = 1 << 19, Swap = 2 << 20, Swappiness = 0, DisableOOMKiller = false },
            Cpu = new SpecCpu { Shares = 512, Quota = 50000, Period = 100000, Cpus = "0-1", Mems = "0" },
            Pids = new SpecPids { Limit = 64 },
            BlockIO = new SpecBlockIO
            {
                Weight = 500, LeafWeight = 300, WeightDevice = [new SpecWeightDevice { Major = 8, Minor = 0, Weight = 100, LeafWeight = 50 }],
                ThrottleReadBpsDevice = [new SpecThrottleDevice { Major = 8, Minor = 0, Rate = 1 << 20 }],
                ThrottleWriteBpsDevice = [new SpecThrottleDevice { Major = 8, Minor = 16, Rate = 2 << 20 }],
                ThrottleReadIOPSDevice = [new SpecThrottleDevice { Major = 8, Minor = 0, Rate = 100 }],
                ThrottleWriteIOPSDevice = [new SpecThrottleDevice { Major = 8, Minor = 0, Rate = 200 }],
            },
            HugepageLimits = [new SpecHugepageLimit { PageSize = "2MB", Limit = 0 }, new SpecHugepageLimit { PageSize = "1GB", Limit = 1 << 30 }],
            Network = new SpecNetwork { ClassID = 0x100001, Priorities = [new SpecInterfacePriority { Name = "eth0", Priority = 5 }] },
            Rdma = new() { ["mlx5_0"] = new SpecRdma { HcaHandles = 3, HcaObjects = 1000 } },
            Unified = new() { ["memory.high"] = "1000000" },
        };
        return s;
    }

    [Fact]
    public void SpecReaderReadsWhatTheSerializerWrites()
    {
        var json = JsonSerializer.Serialize(Rich(), OciJson.Default.Spec);
        var back = Bundle.Parse(System.Text.Encoding.UTF8.GetBytes(json));
        Assert.Equal(json, JsonSerializer.Serialize(back, OciJson.Default.Spec));
    }

    [Fact]
    public void SpecReaderSkipsUnknownMembersAndAcceptsRuncStyleValues()
    {
        var spec = Bundle.Parse("""
            { "ociVersion": "1.0.2-dev", "future": {"x": [1, {"y": null}]}, // comment
              "process": { "terminal": false, "consoleSize": {"height": 1, "width": 2}, "args": ["sh"],
                           "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}], "scheduler": {} },
              "root": {"path": "rootfs", "readonly": true},
              "linux": { "resources": {"devices": [{"allow": false, "access": "rwm"}], "blockIO": {}},
                         "seccomp": {"defaultAction": "SCMP_ACT_ERRNO"}, "namespaces": [{"type": "pid"}] },
            }
            """u8);
        Assert.Equal(["sh"], spec.Process!.Args);
        Assert.True(spec.Root!.Readonly);
        Assert.Equal(1024UL, spec.Process.Rlimits![0].Hard);
        Assert.Equal(JsonValueKind.Object, spec.Linux!.Seccomp!.Value.ValueKind);
        Assert.False(spec.Linux.Resources!.Devices![0].Allow);
    }

    [Theory]
    [InlineData("""{"process": {"args": "sh"}}""", "process.args")]
    [InlineData("""{"process": {"user": {"uid": -1}}}""", "process.user.uid")]
    [InlineData("""{"root": {"readonly": "yes"}}""", "root.readonly")]
    [InlineData("""{"mounts": [{"destination": 5}]}""", "mounts[].destination")]
    [InlineData("""{"linux": {"namespaces": [{"type": "pid"}""", "invalid JSON")]
    [InlineData("""[]""", "config")]
    public void MistypedMembersAreNamed(string json, string expected)
    {
        var e = Assert.Throws<RtException>(() => Bundle.Parse(System.Text.Encoding.UTF8.GetBytes(json)));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MountOptionsSplitIntoFlagsPropagationAndData()
    {
        var o = MountOptions.Parse(["rbind", "ro", "nosuid", "rprivate", "mode=755", "size=1k", "rw", "ro"]);
        Assert.Equal(MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID, o.Flags);
        Assert.Equal([MS_PRIVATE | MS_REC], o.Propagation);
        Assert.Equal("mode=755,size=1k", o.Data);
        Assert.True(o.Bind);
        Assert.True(o.ReadOnly);
    }

    [Theory]
    [InlineData("TERM", 15)]
    [InlineData("SIGKILL", 9)]
    [InlineData("sigint", 2)]
    [InlineData("9", 9)]
    [InlineData("SIGRTMIN+0", -1)]
    [InlineData("0", -1)]
    [InlineData("65", -1)]
    public void SignalsParse(string text, int expected)
    {
        if (expected < 0) Assert.Throws<RtException>(() => Signals.Parse(text));
        else Assert.Equal(expected, Signals.Parse(text));
    }

    [Fact]
    public void HybridHostUsesTheV1Controllers()
    {
        var host = CgroupHost.Detect([
            "25 24 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
            "26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
            "27 25 0:24 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
            "28 25 0:25 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
            "29 25 0:26 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd",
            "30 25 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
        ]);
        Assert.False(host.IsV2);
        Assert.Equal("/sys/fs/cgroup/memory", host.V1MountOf("memory"));
        Assert.Equal("/sys/fs/cgroup/cpu", host.V1MountOf("cpu"));
        Assert.Null(host.V1MountOf("blkio"));
        Assert.Contains(host.V1, h => h.Options == "name=systemd");
    }

    [Fact]
    public void AHierarchyMountedTwiceIsOneHierarchyAtItsSysFsCgroupMount()
    {
        // A chroot's bind of /sys/fs/cgroup (seen first) and a bind of a sub-cgroup: every container would mount the
        // hierarchy twice on one point (EBUSY) if each line counted.
        var host = CgroupHost.Detect([
            "40 24 0:23 / /tmp/chroot/sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
            "41 24 0:24 /docker/abc /tmp/other/memory rw,relatime - cgroup cgroup rw,memory",
            "26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
            "27 25 0:24 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
            "42 24 0:24 / /tmp/chroot/sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
        ]);
        Assert.Equal(2, host.V1.Count);
        Assert.Equal("/sys/fs/cgroup/cpu", host.V1MountOf("cpu"));
        Assert.Equal("/sys/fs/cgroup/memory", host.V1MountOf("memory"));
    }

    [Fact]
    public void CgroupPathsAreConfinedAndDefaulted()
    {
        Assert.Equal("tinyo/abc", CgroupPath.For("abc", null));
        Assert.Equal("a/b", CgroupPath.For("abc", "/a/b/"));
        Assert.Throws<RtException>(() => CgroupPath.Validate("/a/../../b"));
        Assert.Throws<RtException>(() => CgroupPath.Validate("machine.slice:tinyo:abc"));
    }

    [Fact]
    public void InitMessageRoundTrips()
    {
        var c = new Containers.InitConfig { Id = "x", Rootfs = "/r", ExecFifo = "/f", CgroupV1Hierarchies = ["cpu,cpuacct", "memory"], Spec = Rich() };
        c.Spec.Root!.Path = "/r";
        c.SeccompProgram = [1, 2, 3, 4, 5, 6, 7, 8]; c.SeccompFlags = 2;
        var back = Containers.InitConfigCodec.Decode(Containers.InitConfigCodec.Encode(c));
        Assert.Equal(c.ExecFifo, back.ExecFifo);
        Assert.Equal(c.SeccompProgram, back.SeccompProgram);
        Assert.Equal(2u, back.SeccompFlags);
        Assert.Equal(c.CgroupV1Hierarchies, back.CgroupV1Hierarchies);
        // Everything init acts on survives; what it does not need (resources, hooks, annotations) is not sent.
        c.Spec.Linux!.Resources = null; c.Spec.Hooks = null; c.Spec.Annotations = null; c.Spec.OciVersion = null;
        c.Spec.Linux.CgroupsPath = null;
        c.Spec.Linux.Seccomp = null; // sent compiled, as SeccompProgram
        Assert.Equal(JsonSerializer.Serialize(c.Spec, OciJson.Default.Spec), JsonSerializer.Serialize(back.Spec, OciJson.Default.Spec));
        Assert.Throws<RtException>(() => Containers.InitConfigCodec.Decode(Containers.InitConfigCodec.Encode(c).AsSpan(0, 40)));
    }
}
