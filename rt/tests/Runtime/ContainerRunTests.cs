using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Processes;
using Tinyo.Rt.Security;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>Real containers (as root): isolation, process settings, limits, security defaults, cleanup.</summary>
[Collection("containers")]
public sealed class ContainerRunTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    [Fact]
    public void OutputAndExitCodeArePropagated()
    {
        using var b = new TestBundle("sh", "-c", "echo hello from $0; exit 7");
        var (st, output) = _h.Run(b);
        Assert.Equal(7, st.Code);
        Assert.Equal(0, st.Signal);
        Assert.False(st.OomKilled);
        Assert.Equal("hello from sh\n", output);
    }

    [Fact]
    public void ProcessIsPid1InItsPidNamespace()
    {
        using var b = new TestBundle("sh", "-c", "echo $$; exec ps -o pid");
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        // sh is pid 1, and ps (which replaced it, keeping pid 1) sees no other process: nothing of the host.
        Assert.Equal("1\nPID\n1\n", string.Join('\n', output.Split('\n').Select(l => l.Trim())));
    }

    [Fact]
    public void EnvCwdAndUserAreApplied()
    {
        using var b = new TestBundle("sh", "-c", "echo $FOO; pwd; id -u; id -g; id -G");
        b.Spec.Process!.Env!.Add("FOO=bar baz");
        b.Spec.Process.Cwd = "/work/dir";
        b.Spec.Process.User = new SpecUser { Uid = 1000, Gid = 1001, AdditionalGids = [20, 30] };
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Equal("bar baz\n/work/dir\n1000\n1001\n1001 20 30\n", output);
    }

    [Fact]
    public void HostnameIsSetInItsUtsNamespace()
    {
        using var b = new TestBundle("hostname");
        b.Spec.Hostname = "box-42";
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Equal("box-42\n", output);
        Assert.NotEqual("box-42", System.Net.Dns.GetHostName());
    }

    [Fact]
    public void NewNetworkNamespaceHasOnlyLoopbackAndItIsUp()
    {
        using var b = new TestBundle("sh", "-c", "cat /proc/net/dev; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags");
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        var ifaces = output.Split('\n').Where(l => l.Contains(':') && !l.Contains('|')).Select(l => l.Split(':')[0].Trim()).ToList();
        Assert.Equal(["lo"], ifaces);
        Assert.Contains("0x9", output); // IFF_UP | IFF_LOOPBACK
    }

    [Fact]
    public void BindMountsAreReadOnlyOrReadWriteAsAsked()
    {
        var ro = Directory.CreateTempSubdirectory("tinyo-ro-").FullName;
        var rw = Directory.CreateTempSubdirectory("tinyo-rw-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(ro, "in.txt"), "from host\n");
            using var b = new TestBundle("sh", "-c", "cat /data/ro/in.txt; touch /data/ro/x 2>/dev/null && echo ro-writable; echo out > /data/rw/out.txt && echo rw-ok");
            b.Spec.Mounts!.Add(new SpecMount { Destination = "/data/ro", Type = "bind", Source = ro, Options = ["rbind", "ro"] });
            b.Spec.Mounts.Add(new SpecMount { Destination = "/data/rw", Source = rw, Options = ["bind", "rw"] });
            var (st, output) = _h.Run(b);
            Assert.Equal(0, st.Code);
            Assert.Equal("from host\nrw-ok\n", output);
            Assert.Equal("out\n", File.ReadAllText(Path.Combine(rw, "out.txt")));
            Assert.False(File.Exists(Path.Combine(ro, "x")));
        }
        finally
        {
            Directory.Delete(ro, true);
            Directory.Delete(rw, true);
        }
    }

    [Fact]
    public void MountDestinationsCannotEscapeTheRootfsThroughSymlinks()
    {
        var outside = Directory.CreateTempSubdirectory("tinyo-outside-").FullName;
        try
        {
            using var b = new TestBundle("sh", "-c", "ls -d /escape/sub && echo inside");
            // An image's symlink naming a host path, with dot-dots for good measure: it must resolve inside the
            // rootfs (where the same path exists too), never to the host directory.
            File.CreateSymbolicLink(Path.Combine(b.Rootfs, "escape"), "/../../../../.." + outside);
            Directory.CreateDirectory(Path.Combine(b.Rootfs, outside.TrimStart('/')));
            b.Spec.Mounts!.Add(new SpecMount { Destination = "/escape/sub", Type = "tmpfs", Source = "tmpfs" });
            var (st, output) = _h.Run(b);
            Assert.Equal(0, st.Code);
            Assert.Contains("inside", output);
            Assert.Empty(Directory.GetFileSystemEntries(outside));
            Assert.True(Directory.Exists(Path.Combine(b.Rootfs, outside.TrimStart('/'), "sub")));
        }
        finally { Directory.Delete(outside, true); }
    }

    [Fact]
    public void DanglingSymlinkDestinationIsAnErrorAndLeavesNothing()
    {
        var outside = Directory.CreateTempSubdirectory("tinyo-outside-").FullName;
        try
        {
            using var b = new TestBundle("true");
            File.CreateSymbolicLink(Path.Combine(b.Rootfs, "escape"), outside);
            b.Spec.Mounts!.Add(new SpecMount { Destination = "/escape/sub", Type = "tmpfs", Source = "tmpfs" });
            var id = ContainerHarness.NewId("dangling");
            _h.Track(id);
            var e = Assert.Throws<RtException>(() => _h.Run(b, id));
            Assert.Contains("/escape/sub", e.Message);
            Assert.Empty(Directory.GetFileSystemEntries(outside));
            _h.AssertGone(id, b);
        }
        finally { Directory.Delete(outside, true); }
    }

    [Fact]
    public void ReadonlyRootfsRejectsWritesButTmpfsMountsStayWritable()
    {
        using var b = new TestBundle("sh", "-c", "touch /newfile 2>/dev/null && echo root-writable; touch /dev/shm/ok && echo shm-ok");
        b.Spec.Root!.Readonly = true;
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Equal("shm-ok\n", output);
        Assert.False(File.Exists(Path.Combine(b.Rootfs, "newfile")));
    }

    [Fact]
    public void MemoryLimitOomKillIsReported()
    {
        using var b = new TestBundle("tail", "/dev/zero"); // buffers an endless line
        b.Spec.Linux!.Resources = new SpecResources { Memory = new SpecMemory { Limit = 16 << 20 } };
        var (st, _) = _h.Run(b);
        Assert.True(st.OomKilled);
        Assert.Equal(9, st.Signal);
        Assert.Equal(137, st.Code);
    }

    [Fact]
    public void PidsLimitStopsAForkBomb()
    {
        using var b = new TestBundle("sh", "-c", "i=0; while [ $i -lt 50 ]; do sleep 5 & i=$((i+1)); done; echo all-forked");
        b.Spec.Linux!.Resources = new SpecResources { Pids = new SpecPids { Limit = 8 } };
        var (st, output) = _h.Run(b);
        Assert.NotEqual(0, st.Code);
        Assert.Contains("can't fork", output);
        Assert.DoesNotContain("all-forked", output);
    }

    [Fact]
    public void MaskedAndReadonlyProcPathsAreEnforced()
    {
        using var b = new TestBundle("sh", "-c",
            "wc -c < /proc/timer_list; wc -c < /proc/keys; ls /proc/acpi 2>/dev/null | wc -l; echo 1 2>/dev/null > /proc/sys/kernel/domainname && echo sys-writable; echo done");
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Equal("0\n0\n0\ndone\n", output);
    }

    [Fact]
    public void EffectiveCapabilitiesMatchTheSpec()
    {
        string[] caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
        using var b = new TestBundle("sh", "-c", "grep -E '^Cap(Eff|Prm|Bnd|Inh|Amb)' /proc/self/status; grep NoNewPrivs /proc/self/status");
        b.Spec.Process!.Capabilities = new SpecCapabilities { Bounding = [.. caps], Effective = [.. caps], Permitted = [.. caps] };
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        ulong want = CapabilitySets.Mask(caps, "test");
        Assert.Contains($"CapEff:\t{want:x16}", output);
        Assert.Contains($"CapBnd:\t{want:x16}", output);
        Assert.Contains("CapAmb:\t0000000000000000", output);
        Assert.Contains("NoNewPrivs:\t1", output);
    }

    [Fact]
    public void DockerDefaultCapabilitiesForRootAndNoneForAnUnprivilegedUser()
    {
        using var b = new TestBundle("grep", "CapEff", "/proc/self/status");
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Contains($"CapEff:\t{CapabilitySets.Mask(CapabilitySets.DockerDefault, "test"):x16}", output);

        using var u = new TestBundle("grep", "CapEff", "/proc/self/status");
        u.Spec.Process!.User = new SpecUser { Uid = 65534, Gid = 65534 };
        (st, output) = _h.Run(u);
        Assert.Equal(0, st.Code);
        Assert.Contains("CapEff:\t0000000000000000", output);
    }

    [Fact]
    public void DeviceCgroupForbidsHostDisksEvenWithMknod()
    {
        using var b = new TestBundle("sh", "-c", "ls /dev; echo x > /dev/null && echo null-ok; mknod /tmp/disk b 8 0 && head -c 1 /tmp/disk > /dev/null 2>&1 || echo disk-denied");
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        foreach (var dev in new[] { "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "fd", "stdin", "stdout", "stderr", "ptmx" })
            Assert.Contains(dev + "\n", output);
        Assert.Contains("null-ok", output);
        Assert.Contains("disk-denied", output);
    }

    [Fact]
    public void SysctlsAreWrittenBeforeProcSysTurnsReadOnly()
    {
        using var b = new TestBundle("sh", "-c", "cat /proc/sys/net/ipv4/ip_forward; echo 0 2>/dev/null > /proc/sys/net/ipv4/ip_forward || echo ro");
        b.Spec.Linux!.Sysctl = new() { ["net.ipv4.ip_forward"] = "1" };
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Equal("1\nro\n", output);
    }

    [Fact]
    public void SpecDevicesAreCreatedWithModeAndOwner()
    {
        using var b = new TestBundle("stat", "-c", "%F %t:%T %a %u:%g", "/dev/fuse", "/dev/sub/loop9");
        b.Spec.Linux!.Devices =
        [
            new SpecDevice { Type = "c", Path = "/dev/fuse", Major = 10, Minor = 229, FileMode = 0x1B6 /* 0666 */, Uid = 0, Gid = 0 },
            new SpecDevice { Type = "b", Path = "/dev/sub/loop9", Major = 7, Minor = 9, FileMode = 0x180 /* 0600 */, Uid = 12, Gid = 34 },
        ];
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Equal("character special file a:e5 666 0:0\nblock special file 7:9 600 12:34\n", output);
    }

    [Fact]
    public void RlimitsAreApplied()
    {
        using var b = new TestBundle("sh", "-c", "ulimit -n; ulimit -Hn");
        b.Spec.Process!.Rlimits = [new SpecRlimit { Type = "RLIMIT_NOFILE", Soft = 321, Hard = 654 }];
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Equal("321\n654\n", output);
    }

    [Fact]
    public unsafe void HostDescriptorsDoNotLeakIntoTheContainer()
    {
        // A descriptor without close-on-exec in the runtime's process, as a careless library might leave one.
        int fd = Linux.Libc.SysOpen("/etc/hostname", Linux.Libc.OFlag.RdOnly, 0);
        Assert.True(fd > 2);
        try
        {
            using var b = new TestBundle("ls", "/proc/self/fd");
            var (st, output) = _h.Run(b);
            Assert.Equal(0, st.Code);
            var fds = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
            Assert.All(fds, f => Assert.True(f <= 3, $"fd {f} leaked into the container: {string.Join(' ', fds)}"));
        }
        finally { Linux.Libc.SysClose(fd); }
    }

    [Fact]
    public void SignalledExitIsReportedAsSignal()
    {
        using var b = new TestBundle("sleep", "30");
        var (st, _) = _h.Run(b, started: pid => Linux.Libc.Kill(pid, 9));
        Assert.Equal(9, st.Signal);
        Assert.Equal(137, st.Code);
        Assert.False(st.OomKilled);
    }
}

/// <summary>Namespaces joined by path, shared with the host, and the container's view of its cgroup.</summary>
[Collection("containers")]
public sealed class NamespaceTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    [Fact]
    public void JoinsAnotherContainersNetworkNamespaceByPath()
    {
        using var a = new TestBundle("sleep", "30");
        var rt = _h.Runtime();
        var ida = ContainerHarness.NewId("neta");
        _h.Track(ida);
        int pid = rt.Create(ida, a.Write());
        var want = new FileInfo($"/proc/{pid}/ns/net").LinkTarget;

        using var b = new TestBundle("readlink", "/proc/self/ns/net");
        var net = b.Spec.Linux!.Namespaces!.Single(n => n.Type == "network");
        net.Path = $"/proc/{pid}/ns/net";
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Equal(want + "\n", output);
        Assert.NotEqual(new FileInfo("/proc/self/ns/net").LinkTarget, want);
        rt.Delete(ida, force: true);
        _h.AssertGone(ida, a);
    }

    [Fact]
    public void WithoutAPidNamespaceTheProcessIsNotPid1()
    {
        using var b = new TestBundle("sh", "-c", "echo $$");
        b.Spec.Linux!.Namespaces!.RemoveAll(n => n.Type == "pid");
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.True(int.Parse(output) > 1, output);
    }

    [SkippableFact]
    public void CgroupLimitsAreVisibleInTheContainersOwnCgroupView()
    {
        Skip.If(Cgroups.CgroupHost.Current.IsV2, "a cgroup v2 host: the v1 file names below do not apply");
        using var b = new TestBundle("sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares; cat /proc/self/cgroup | grep memory");
        b.Spec.Mounts!.Add(new Oci.SpecMount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "noexec", "nodev", "relatime", "ro"] });
        b.Spec.Linux!.Resources = new Oci.SpecResources
        {
            Memory = new Oci.SpecMemory { Limit = 64 << 20 }, Pids = new Oci.SpecPids { Limit = 99 },
            Cpu = new Oci.SpecCpu { Quota = 25000, Period = 50000, Shares = 512 },
        };
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Equal($"{64 << 20}\n99\n25000\n50000\n512\n", string.Concat(output.Split('\n').Take(5).Select(l => l + "\n")));
        Assert.Matches(@"memory:/\n", output); // inside its cgroup namespace, the container's cgroup is "/"
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void WithoutACgroupNamespaceTheCgroupMountShowsOnlyTheContainersOwnCgroupReadOnly(bool direct)
    {
        Skip.If(Cgroups.CgroupHost.Current.IsV2, "a cgroup v2 host: the v1 file names below do not apply");
        // Docker's default on v1 hosts (cgroupns=host): a cgroup mount, no cgroup namespace. The mount must show the
        // container's own cgroup (its limits where programs look for them), not the host's tree, and stay read-only.
        using var b = new TestBundle("sh", "-c",
            "cat /sys/fs/cgroup/pids/pids.max; ls /sys/fs/cgroup/memory | grep -c '^tinyo$'; " +
            "n=0; while read p; do n=$((n+1)); done < /sys/fs/cgroup/memory/cgroup.procs; echo $n; " +
            "{ echo 1000 > /sys/fs/cgroup/pids/pids.max; } 2>/dev/null && echo WRITABLE; cat /sys/fs/cgroup/pids/pids.max; grep -c pids:/tinyo/ /proc/self/cgroup");
        b.Spec.Mounts!.Add(new Oci.SpecMount { Destination = "/sys/fs/cgroup", Type = "cgroup", Source = "cgroup", Options = ["nosuid", "noexec", "nodev", "relatime", "ro"] });
        b.Spec.Linux!.Namespaces!.RemoveAll(n => n.Type == "cgroup");
        b.Spec.Linux.Resources = new Oci.SpecResources { Pids = new Oci.SpecPids { Limit = 99 } };
        var id = ContainerHarness.NewId("cgview");
        _h.Track(id);
        var outFile = Path.Combine(_h.Root.Path, "cgview.out");
        ExitStatus st;
        using (var f = File.OpenHandle(outFile, FileMode.Create, FileAccess.ReadWrite))
        {
            int fd = (int)f.DangerousGetHandle();
            var (path, aot) = ContainerHarness.Binary;
            st = new ContainerRuntime(_h.Root, new RuntimeOptions
            {
                InitCommand = [path], SealInit = aot, Stdout = fd, Stderr = fd, Stdin = 0, Warn = _h.Warnings.Add, DirectStart = direct,
            }).Run(id, b.Write());
        }
        var output = File.ReadAllText(outFile);
        Assert.Equal(0, st.Code);
        // pids.max of its own cgroup; no tinyo/ (or any other container) below it; only its own process; the write
        // refused; /proc/self/cgroup still names the host path (no namespace), which the view is consistent with.
        Assert.Equal("99\n0\n1\n99\n1\n", output);
        _h.AssertGone(id, b);
    }
}
