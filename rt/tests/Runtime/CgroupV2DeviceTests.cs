using System.Diagnostics;
using Tinyo.Rt.Cgroups;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// <c>linux.resources.devices</c> on cgroup v2, enforced by the kernel: containers placed in this host's real cgroup2
/// tree (<c>/sys/fs/cgroup/unified</c>, see <see cref="CgroupV2Tests"/>) get the BPF device filter, and only it stands
/// between them and the host's disks (they are in no v1 devices cgroup of their own).
/// </summary>
[Collection("containers")]
public sealed class CgroupV2DeviceTests : IDisposable
{
    private const string UnifiedRoot = "/sys/fs/cgroup/unified";
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    private static bool HaveUnifiedTree => File.Exists(Path.Combine(UnifiedRoot, "cgroup.procs"));

    /// <summary>The host's first disk from /proc/partitions: major and minor.</summary>
    private static (int Major, int Minor) FirstDisk()
    {
        foreach (var line in File.ReadAllLines("/proc/partitions").Skip(2))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 4) return (int.Parse(f[0]), int.Parse(f[1]));
        }
        throw new InvalidOperationException("no disk in /proc/partitions");
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheDefaultRulesRefuseTheHostsDiskAndAllowTheStandardNodes(bool direct)
    {
        Skip.If(!HaveUnifiedTree, "no cgroup2 mount on this host");
        var (major, minor) = FirstDisk();
        // The node can be made (mknod is allowed, as in Docker); opening it is what the filter refuses. As a control,
        // the same read outside the filter would succeed (root reading its own disk).
        using var b = new TestBundle("sh", "-c",
            $"mknod /dev/disk0 b {major} {minor} && echo made; head -c 1 /dev/disk0 > /dev/null && echo READ-DISK; " +
            "echo x > /dev/null && echo null-ok; head -c 3 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c; " +
            "mknod /dev/mem1 c 1 1 && { head -c 1 /dev/mem1 > /dev/null && echo READ-MEM; }; echo end");
        var id = ContainerHarness.NewId("v2dev");
        _h.Track(id);
        var outFile = Path.Combine(_h.Root.Path, "v2dev.out");
        var dir = Path.Combine(UnifiedRoot, "tinyo", id);
        uint[] attached = [];
        using (var f = File.OpenHandle(outFile, FileMode.Create, FileAccess.ReadWrite))
        {
            int fd = (int)f.DangerousGetHandle();
            var st = new ContainerRuntime(_h.Root, new RuntimeOptions
            {
                InitCommand = [ContainerHarness.Binary.Path], SealInit = ContainerHarness.Binary.Aot,
                Stdout = fd, Stderr = fd, Stdin = 0, Warn = _h.Warnings.Add,
                Cgroups = CgroupHost.Unified(UnifiedRoot), DirectStart = direct,
            }).Run(id, b.Write(), _ => attached = DeviceProgram.Attached(dir));
            Assert.Equal(0, st.Code);
        }
        var output = File.ReadAllText(outFile);
        Assert.Contains("made\n", output);
        Assert.DoesNotContain("READ-DISK", output);
        Assert.DoesNotContain("READ-MEM", output);
        Assert.Contains("Operation not permitted", output);
        Assert.Contains("null-ok\n3\n4\n", output);
        Assert.EndsWith("end\n", output);
        Assert.Single(attached);
        _h.AssertGone(id, b);
        Assert.False(Directory.Exists(dir), "the unified cgroup was left behind");
        // Removing the cgroup released the program: nothing of it stays in the kernel.
        var sw = Stopwatch.StartNew();
        while (DeviceProgram.Exists(attached[0]) && sw.ElapsedMilliseconds < 10_000) Thread.Sleep(20);
        Assert.False(DeviceProgram.Exists(attached[0]), $"BPF program {attached[0]} still loaded after the cgroup was removed");
    }

    [SkippableFact]
    public void AProcessInTheCgroupCannotMknodADeviceTheRulesDeny()
    {
        Skip.If(!HaveUnifiedTree, "no cgroup2 mount on this host");
        var cg = Path.Combine(UnifiedRoot, "tinyo-mknod-" + Guid.NewGuid().ToString("N")[..8]);
        var tmp = Directory.CreateTempSubdirectory("tinyo-mknod-").FullName;
        Directory.CreateDirectory(cg);
        uint id = 0;
        try
        {
            // No mknod at all, open of /dev/null only: what a spec without the default rules would give.
            DeviceProgram.Attach(cg, [new DeviceRule(false, 'a', -1, -1, DeviceAccess.All), new DeviceRule(true, 'c', 1, 3, DeviceAccess.Read | DeviceAccess.Write)]);
            id = Assert.Single(DeviceProgram.Attached(cg));
            // Attaching again (an update) replaces the program instead of stacking a second one.
            DeviceProgram.Attach(cg, [new DeviceRule(false, 'a', -1, -1, DeviceAccess.All), new DeviceRule(true, 'c', 1, 3, DeviceAccess.Read | DeviceAccess.Write)]);
            var now = Assert.Single(DeviceProgram.Attached(cg));
            Assert.NotEqual(id, now);
            id = now;
            var psi = new ProcessStartInfo("/bin/sh", ["-c",
                $"echo $$ > {cg}/cgroup.procs || exit 9; mknod {tmp}/n c 1 3 && echo MKNOD-NULL; mknod {tmp}/z c 1 5 && echo MKNOD-ZERO; " +
                "echo x > /dev/null && echo null-ok; head -c 1 /dev/zero > /dev/null && echo READ-ZERO; echo end"])
            { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.Equal(0, p.ExitCode);
            Assert.DoesNotContain("MKNOD", output);
            Assert.DoesNotContain("READ-ZERO", output);
            Assert.Contains("null-ok\n", output);
            Assert.Contains("Operation not permitted", output);
            Assert.False(File.Exists(Path.Combine(tmp, "n")));
        }
        finally
        {
            for (int i = 0; i < 200 && Directory.Exists(cg); i++)
            {
                try { Directory.Delete(cg); } catch (IOException) { Thread.Sleep(10); } // the shell may still be exiting
            }
            Directory.Delete(tmp, recursive: true);
        }
        Assert.False(Directory.Exists(cg));
        var sw = Stopwatch.StartNew();
        while (DeviceProgram.Exists(id) && sw.ElapsedMilliseconds < 10_000) Thread.Sleep(20);
        Assert.False(DeviceProgram.Exists(id), $"BPF program {id} still loaded after the cgroup was removed");
    }

    [SkippableFact]
    public void ABadDeviceRuleIsAClearErrorAndLeavesNothing()
    {
        Skip.If(!HaveUnifiedTree, "no cgroup2 mount on this host");
        using var b = new TestBundle("true");
        b.Spec.Linux!.Resources!.Devices!.Add(new Oci.SpecDeviceRule { Allow = true, Type = "u", Access = "rwm" });
        var id = ContainerHarness.NewId("v2badrule");
        _h.Track(id);
        var e = Assert.Throws<RtException>(() => new ContainerRuntime(_h.Root, new RuntimeOptions
        {
            InitCommand = [ContainerHarness.Binary.Path], SealInit = ContainerHarness.Binary.Aot,
            Stdout = 1, Stderr = 2, Stdin = 0, Warn = _h.Warnings.Add, Cgroups = CgroupHost.Unified(UnifiedRoot),
        }).Run(id, b.Write()));
        Assert.Contains("linux.resources.devices[1]: type \"u\" must be a, b or c", e.Message);
        _h.AssertGone(id, b);
        Assert.False(Directory.Exists(Path.Combine(UnifiedRoot, "tinyo", id)));
    }
}
