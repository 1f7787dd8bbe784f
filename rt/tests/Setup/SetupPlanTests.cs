using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Processes;
using Tinyo.Rt.Setup;

namespace Tinyo.Rt.Tests.Setup;

/// <summary>
/// The set-up plan without root: plans built from specs, their order, which back-end can run them and why not, the
/// direct back-end's rows, and the init back-end run against a recording fake.
/// </summary>
public sealed class SetupPlanTests
{
    private static InitConfig Config(Action<Spec>? shape = null)
    {
        var spec = DefaultSpec.Create(["sh", "-c", "true"]);
        spec.Hostname = "probe";
        spec.Mounts!.RemoveAll(m => m.Type == "cgroup");
        shape?.Invoke(spec);
        return new InitConfig { Id = "t", Spec = spec, Rootfs = "/tmp/tinyo-plan-rootfs" };
    }

    private static List<string> Names(SetupPlan p) => [.. p.Names];

    /// <summary>Asserts that <paramref name="expected"/> appear in <paramref name="actual"/> in this order.</summary>
    private static void InOrder(IReadOnlyList<string> actual, params string[] expected)
    {
        int at = 0;
        foreach (var e in expected)
        {
            int i = -1;
            for (int k = at; k < actual.Count; k++) if (actual[k].StartsWith(e, StringComparison.Ordinal)) { i = k; break; }
            Assert.True(i >= 0, $"\"{e}\" missing after position {at} in:\n{string.Join('\n', actual)}");
            at = i + 1;
        }
    }

    private static List<string> Rows(SetupPlan plan)
    {
        using var s = new SyscallScript();
        var high = new List<int>();
        try
        {
            DirectBackend.Write(plan, s, [], [0, 1, 2], high);
            return [.. s.Descriptions];
        }
        finally
        {
            foreach (var fd in high) Linux.Libc.SysClose(fd);
            foreach (var step in plan.Launch) (step as JoinNamespaceStep)?.Close();
        }
    }

    [Fact]
    public void MemoryMergeIsAStepWithARowWhenAnnotated_ButNotInAUserNamespace()
    {
        Assert.DoesNotContain("memory merge (KSM)", Names(ContainerPlan.For(Config())));
        var plan = ContainerPlan.For(Config(s => s.Annotations = new() { [MemoryMergeStep.Annotation] = "1" }));
        Assert.Null(plan.DirectDecline);
        InOrder(Names(plan), "not dumpable", "memory merge (KSM)", "make / rslave", "capabilities", "exec sh");
        Assert.Contains(Rows(plan), r => r.Contains("PR_SET_MEMORY_MERGE"));
        var user = ContainerPlan.For(Config(s =>
        {
            s.Annotations = new() { [MemoryMergeStep.Annotation] = "1" };
            s.Linux!.Namespaces!.Add(new SpecNamespace { Type = "user" });
        }));
        Assert.DoesNotContain("memory merge (KSM)", Names(user));
    }

    [Fact]
    public void TheDefaultContainerIsOnePlanInInitsOrderAndRunsDirect()
    {
        var plan = ContainerPlan.For(Config());
        Assert.Null(plan.DirectDecline);
        Assert.Empty(plan.Launch);
        InOrder(Names(plan), "umask 0", "unshare cgroup", "not dumpable", "make / rslave", "bind the rootfs /tmp/tinyo-plan-rootfs",
            "mount proc on /proc", "mount tmpfs on /dev", "default /dev nodes", "pivot_root", "hostname probe", "lo up",
            "mask /proc/kcore", "read-only /proc/sys", "setsid", "resolve sh", "cwd /", "close-on-exec", "bounding set", "user 0:0",
            "capabilities", "no_new_privs", "umask 22", "ready", "signals", "exec sh");
    }

    [Fact]
    public void StepsWithoutRowsDeclineTheDirectStartWithTheirReason()
    {
        Assert.Equal("sysctls", ContainerPlan.For(Config(s => s.Linux!.Sysctl = new() { ["net.ipv4.ip_forward"] = "1" })).DirectDecline);
        Assert.Equal("devices", ContainerPlan.For(Config(s => s.Linux!.Devices = [new SpecDevice { Path = "/dev/fuse", Type = "c", Major = 10, Minor = 229 }])).DirectDecline);
        Assert.Equal("oomScoreAdj", ContainerPlan.For(Config(s => s.Process!.OomScoreAdj = 10)).DirectDecline);
        Assert.Equal("terminal", ContainerPlan.For(Config(s => s.Process!.Terminal = true)).DirectDecline);
        Assert.Equal("hooks", ContainerPlan.For(Config(s => s.Hooks = new SpecHooks { Poststop = [new SpecHook { Path = "/bin/true" }] })).DirectDecline);
        Assert.Equal("user namespace", ContainerPlan.For(Config(s => s.Linux!.Namespaces!.Add(new SpecNamespace { Type = "user" }))).DirectDecline);
        Assert.Equal("masked path outside /proc and /sys", ContainerPlan.For(Config(s => s.Linux!.MaskedPaths!.Add("/etc/secret"))).DirectDecline);
        var create = Config();
        create.ExecFifo = "/run/x/exec.fifo";
        Assert.Equal("waits for start", ContainerPlan.For(create).DirectDecline);
        // The same steps are still there for init, in place.
        var names = Names(ContainerPlan.For(Config(s => s.Linux!.Sysctl = new() { ["net.ipv4.ip_forward"] = "1" })));
        InOrder(names, "lo up", "sysctl net.ipv4.ip_forward=1", "mask /proc/kcore");
    }

    [Fact]
    public void WithoutAMountNamespaceNothingIsMountedAndTheRootIsAChroot()
    {
        var plan = ContainerPlan.For(Config(s => s.Linux!.Namespaces!.RemoveAll(n => n.Type == "mount")));
        Assert.Null(plan.DirectDecline);
        var names = Names(plan);
        Assert.Contains("chroot /tmp/tinyo-plan-rootfs", names);
        Assert.DoesNotContain(names, n => n.StartsWith("mount", StringComparison.Ordinal) || n.StartsWith("bind", StringComparison.Ordinal)
            || n.Contains("rslave") || n.StartsWith("pivot_root", StringComparison.Ordinal) || n.StartsWith("mask", StringComparison.Ordinal)
            || n.StartsWith("read-only", StringComparison.Ordinal));
        var rows = Rows(plan);
        InOrder(rows, "chdir to the rootfs /tmp/tinyo-plan-rootfs", "chroot /tmp/tinyo-plan-rootfs", "chdir /", "sethostname probe");
        Assert.DoesNotContain(rows, r => r.Contains("rslave") || r.StartsWith("mounting", StringComparison.Ordinal));
    }

    [Fact]
    public void NamespacesByPathAreJoinedFirstAndPidAroundTheClone()
    {
        var plan = ContainerPlan.For(Config(s =>
        {
            foreach (var n in s.Linux!.Namespaces!)
                n.Path = n.Type switch { "network" => "/proc/self/ns/net", "mount" => "/proc/self/ns/mnt", "pid" => "/proc/self/ns/pid", _ => n.Path };
        }));
        Assert.Null(plan.DirectDecline);
        Assert.Equal("/proc/self/ns/pid", plan.PidNamespacePath);
        Assert.Equal(["join network namespace /proc/self/ns/net", "join mount namespace /proc/self/ns/mnt"], plan.Launch.Select(s => s.Name));
        var names = Names(plan);
        Assert.DoesNotContain("lo up", names); // a joined network namespace is set up by whoever prepared it
        Assert.Contains("make / rslave", names); // a joined mount namespace still gets the rootfs
        InOrder(Rows(plan), "resetting signal handlers", "joining network namespace /proc/self/ns/net",
            "joining mount namespace /proc/self/ns/mnt", "umask", "making / rslave", "pivot_root");
    }

    [Fact]
    public void AReadOnlyRecursiveBindIsMadeReadOnlyAllTheWayDown()
    {
        var plan = ContainerPlan.For(Config(s =>
        {
            s.Mounts!.Add(new SpecMount { Destination = "/data", Type = "bind", Source = "/tmp", Options = ["rbind", "rprivate", "ro"] });
            s.Mounts.Add(new SpecMount { Destination = "/top", Type = "bind", Source = "/tmp", Options = ["bind", "ro"] });
        }));
        var names = Names(plan);
        Assert.Contains("bind /tmp on /data (recursively read-only)", names);
        Assert.Contains("bind /tmp on /top", names);
        var rows = Rows(plan);
        InOrder(rows, "bind-mounting /tmp on /data", "remounting /data", "making read-only recursively /data", "setting propagation of /data");
        Assert.DoesNotContain("making read-only recursively /top", rows);
        Assert.True(Rootfs.MountOptions.Parse(["bind", "rro"]).RecursiveReadOnly);
        Assert.False(Rootfs.MountOptions.Parse(["rbind", "rw"]).RecursiveReadOnly);
        var fake = new RecordingSetupCalls();
        var c = Config(s => s.Mounts!.Add(new SpecMount { Destination = "/data", Type = "bind", Source = "/tmp", Options = ["rbind", "ro"] }));
        InitBackend.Run(ContainerPlan.For(c), c, fake, -1);
        InOrder(fake.Calls, "BindMount /tmp /data rec", "Remount /data 0x1", "ReadOnlyRecursive /data", "PivotRoot");
    }

    [Fact]
    public void TheInitBackendAppliesTheSamePlanThroughItsCalls()
    {
        var c = Config(s =>
        {
            s.Linux!.Sysctl = new() { ["net.ipv4.ip_forward"] = "1" };
            s.Process!.User = new SpecUser { Uid = 1000, Gid = 1000 };
        });
        var fake = new RecordingSetupCalls();
        InitBackend.Run(ContainerPlan.For(c), c, fake, -1);
        InOrder(fake.Calls, "Umask 0", "UnshareCgroup", "SetNotDumpable", "MakeRootSlave", "MountRootfs /tmp/tinyo-plan-rootfs",
            "MountFilesystem proc /proc", "MountFilesystem tmpfs /dev", "CreateDefaultDevices", "PivotRoot /tmp/tinyo-plan-rootfs",
            "Hostname probe", "LoopbackUp", "WriteProcFile /proc/sys/net/ipv4/ip_forward=1", "Mask /proc/kcore", "MakeReadonly /proc/sys",
            "Setsid", "ResolveProgram sh", "EnterCwd /", "CloseOnExec", "DropBounding", "SetIds 1000:1000 keepcaps", "ApplyCapabilities",
            "SetNoNewPrivs", "Umask 22", "ReadyAndWait", "ResetIgnoredSignals", "Exec /bin/sh");
        Assert.Equal("Exec /bin/sh", fake.Calls[^1]);
    }

    [Fact]
    public void ExecBuildsItsSmallerPlanFromTheSameSteps()
    {
        var p = DefaultSpec.Create(["sh"]).Process!;
        var plan = ExecPlan.For(new ExecRequest
        {
            Process = p, User = new SpecUser(), Args = ["ls", "-l"], Program = "/bin/ls", Env = ["PATH=/bin"], CgroupJoin = [7],
            Pidfd = 5, NamespaceFlags = Linux.Libc.CLONE_NEWNS, CwdFd = 6, Cwd = "/srv", Seccomp = new byte[8], SeccompFlags = 0,
        });
        Assert.Null(plan.DirectDecline);
        InOrder(Names(plan), "join the cgroup", "enter the container's namespaces", "cwd /srv", "bounding set", "user 0:0", "capabilities",
            "no_new_privs", "stdio", "close-on-exec", "signals", "seccomp (last)", "exec /bin/ls");
        using var s = new SyscallScript();
        var ctx = new RowContext { S = s };
        foreach (var step in plan.Steps) ((IRowStep)step).Emit(ctx);
        InOrder([.. s.Descriptions], "joining the container's cgroup", "entering the container's namespaces", "chdir /srv", "setresuid 0",
            "capset", "prctl(PR_SET_NO_NEW_PRIVS)", "close_range", "resetting SIGPIPE", "unblocking signals", "loading the seccomp filter", "exec /bin/ls");
        // A non-root user gets no capset: setresuid dropped them all.
        var plan2 = ExecPlan.For(new ExecRequest { Process = p, User = new SpecUser { Uid = 1000 }, Args = ["ls"], Program = "/bin/ls", Env = [] });
        Assert.DoesNotContain("capabilities", Names(plan2));
    }
}
