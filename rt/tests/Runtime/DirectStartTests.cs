using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Processes;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// The direct start (the clone child builds the container from a syscall script and execs the process; no
/// <c>tinyort init</c>) against the init path it replaces: the same container from the same spec, seen from inside;
/// which specs take which path; and failures reported as clearly as init reports them.
/// </summary>
[Collection("containers")]
public sealed class DirectStartTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    // Everything a process can see of how it was set up: credentials, capabilities, seccomp, signals, limits, fds,
    // mounts (point, options, fs type), hostname, cwd, umask, loopback, masked paths.
    private const string Probe =
        "grep -E '^(Uid|Gid|Groups|Cap|NoNewPrivs|Seccomp|SigBlk|SigIgn|SigCgt)' /proc/self/status; " +
        "echo hostname=$(hostname) cwd=$(pwd) umask=$(umask) nofile=$(ulimit -n); " +
        "ls /proc/self/fd; cat /sys/class/net/lo/flags; " +
        "awk '{print $5, $6, $(NF-2), $(NF-1)}' /proc/self/mountinfo; " +
        "cat /proc/timer_list 2>&1 | head -c 20; ls /sys/firmware; ls -l /dev | awk '{print $1, $NF}'; " +
        "cat /proc/1/cmdline | tr '\\0' ' '; echo; touch /proc/sys/kernel/x 2>&1; touch /rootfile 2>&1; echo end";

    private (ExitStatus Status, string Output) Run(TestBundle b, bool direct)
    {
        var id = ContainerHarness.NewId(direct ? "ds" : "di");
        _h.Track(id);
        var outFile = Path.Combine(_h.Root.Path, id + ".out");
        using var f = File.OpenHandle(outFile, FileMode.Create, FileAccess.ReadWrite);
        var (path, aot) = ContainerHarness.Binary;
        var rt = new ContainerRuntime(_h.Root, new RuntimeOptions
        {
            InitCommand = [path], SealInit = aot, Stdout = (int)f.DangerousGetHandle(), Stderr = (int)f.DangerousGetHandle(),
            DirectStart = direct,
        });
        var st = rt.Run(id, b.Write());
        _h.AssertGone(id, b);
        return (st, File.ReadAllText(outFile));
    }

    private static TestBundle Bundle(string script)
    {
        var b = new TestBundle("sh", "-c", script);
        b.Spec.Hostname = "probe";
        b.Spec.Root!.Readonly = true;
        b.Spec.Process!.Cwd = "/tmp";
        b.Spec.Process.Rlimits = [new SpecRlimit { Type = "RLIMIT_NOFILE", Soft = 777, Hard = 888 }];
        return b;
    }

    [Fact]
    public void DirectAndInitPathsBuildTheSameContainer()
    {
        using var b = Bundle(Probe);
        Assert.Null(Tinyo.Rt.Setup.ContainerPlan.For(Config(b)).DirectDecline);
        var (s1, direct) = Run(b, direct: true);
        var (s2, init) = Run(b, direct: false);
        Assert.Equal(0, s1.Code);
        Assert.Equal(0, s2.Code);
        Assert.Equal(init, direct);
        // And what both show is what the spec asked for (not merely equal).
        Assert.Contains("NoNewPrivs:\t1\n", direct);
        Assert.Contains("Seccomp:\t2\n", direct);
        Assert.Contains("SigBlk:\t0000000000000000\n", direct);
        Assert.Contains("SigIgn:\t0000000000000000\n", direct);
        Assert.Contains("hostname=probe cwd=/tmp umask=0022 nofile=777\n", direct);
        Assert.Contains("0\n1\n2\n", direct); // fds: stdio only (ls's own directory fd is the 3 after them)
        Assert.DoesNotContain("\n4\n", direct);
        Assert.Contains("0x9\n", direct); // lo up
        Assert.Contains("Read-only file system", direct);
        Assert.Contains("sh -c grep", direct); // pid 1 is the container's process itself
    }

    [Fact]
    public void NonRootUserWithGroupsAndAmbientCapabilities()
    {
        using var b = Bundle("id; grep -E '^Cap(Eff|Prm|Inh|Amb)' /proc/self/status");
        b.Spec.Process!.User = new SpecUser { Uid = 1000, Gid = 1001, AdditionalGids = [20, 30], Umask = 0x3F };
        b.Spec.Process.Capabilities = new SpecCapabilities
        {
            Bounding = ["CAP_NET_BIND_SERVICE", "CAP_KILL"], Effective = ["CAP_NET_BIND_SERVICE"], Permitted = ["CAP_NET_BIND_SERVICE"],
            Inheritable = ["CAP_NET_BIND_SERVICE"], Ambient = ["CAP_NET_BIND_SERVICE"],
        };
        var (s1, direct) = Run(b, direct: true);
        var (_, init) = Run(b, direct: false);
        Assert.Equal(0, s1.Code);
        Assert.Equal(init, direct);
        Assert.Contains("uid=1000 gid=1001 groups=20,30", direct);
        Assert.Contains("CapAmb:\t0000000000000400", direct);
    }

    [Fact]
    public void SpecsWithFeaturesTheScriptLacksTakeTheInitPath()
    {
        using var b = Bundle("true");
        b.Spec.Linux!.Sysctl = new() { ["net.ipv4.ip_unprivileged_port_start"] = "0" };
        Assert.Equal("sysctls", Tinyo.Rt.Setup.ContainerPlan.For(Config(b)).DirectDecline);
        var (st, _) = Run(b, direct: true); // still runs, through init
        Assert.Equal(0, st.Code);
        b.Spec.Linux.Sysctl = null;
        b.Spec.Linux.MaskedPaths!.Add("/etc/secret");
        Assert.Contains("outside /proc", Tinyo.Rt.Setup.ContainerPlan.For(Config(b)).DirectDecline);
        b.Spec.Linux.MaskedPaths.RemoveAt(b.Spec.Linux.MaskedPaths.Count - 1);
        b.Spec.Process!.OomScoreAdj = 100;
        Assert.Equal("oomScoreAdj", Tinyo.Rt.Setup.ContainerPlan.For(Config(b)).DirectDecline);
    }

    [Fact]
    public void AFailingStepIsReportedByNameAndLeavesNothing()
    {
        using var b = Bundle("true");
        b.Spec.Mounts!.Add(new SpecMount { Destination = "/bin/busybox/sub", Type = "tmpfs", Source = "tmpfs" });
        var e = Assert.Throws<RtException>(() => Run(b, direct: true));
        Assert.Contains("mount destination", e.Message);
        Assert.Contains("/bin/busybox/sub", e.Message);
        Assert.Contains("Not a directory", e.Message);
    }

    [Fact]
    public void ExecFailuresMatchInit()
    {
        using var b = Bundle("true");
        b.Spec.Process!.Args = ["no-such-program"];
        var direct = Assert.Throws<RtException>(() => Run(b, direct: true)).Message;
        var init = Assert.Throws<RtException>(() => Run(b, direct: false)).Message;
        Assert.Equal(init, direct);
        b.Spec.Process.Args = ["/etc"];
        Assert.Contains("exec /etc: Permission denied", Assert.Throws<RtException>(() => Run(b, direct: true)).Message);
    }

    private static InitConfig Config(TestBundle b) =>
        new() { Spec = Oci.Bundle.Parse(File.ReadAllBytes(Path.Combine(b.Write(), "config.json"))), Rootfs = b.Rootfs };
}
