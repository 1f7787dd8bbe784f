using System.Diagnostics;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Tests.Runtime;

namespace Tinyo.Rt.Tests.Security;

/// <summary>
/// Hostile containers, root inside, with the security tinyo gives every container by default (Docker's capabilities
/// and seccomp profile, no_new_privs, masked and read-only /proc paths, devices cgroup, all namespaces but user):
/// every escape attempt must fail, and the host must be unharmed — checked from the host side too.
/// </summary>
[Collection("containers")]
[Trait("Category", "Security")]
public sealed class EscapeTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    private readonly string _hostDir = Directory.CreateTempSubdirectory("tinyo-host-").FullName;
    private readonly List<System.Diagnostics.Process> _spawned = [];

    public void Dispose()
    {
        _h.Dispose();
        foreach (var p in _spawned) { try { p.Kill(); p.WaitForExit(); } catch (InvalidOperationException) { } p.Dispose(); }
        Directory.Delete(_hostDir, recursive: true);
    }

    private static TestBundle ProbeBundle(params string[] attempts)
    {
        var b = new TestBundle(["/bin/probe", .. attempts]);
        Probe.InstallInto(b);
        return b;
    }

    private static string[] HostMountsUnder(string dir) =>
        File.ReadAllLines("/proc/self/mountinfo").Where(l => l.Split(' ')[4].StartsWith(dir, StringComparison.Ordinal)).ToArray();

    private static void AssertBlocked(Dictionary<string, string> results, params string[] attempts)
    {
        foreach (var a in attempts)
        {
            Assert.True(results.TryGetValue(a, out var r), $"the probe did not report \"{a}\"");
            Assert.True(r.StartsWith("blocked", StringComparison.Ordinal), $"{a}: {r}");
        }
    }

    [Fact]
    public void HostileRootContainerEscapesFail()
    {
        // Host-side witnesses: a secret file the container must not reach, a host process it must not touch.
        var secret = Path.Combine(_hostDir, "secret");
        File.WriteAllText(secret, "host secret\n");
        var before = File.GetLastWriteTimeUtc(secret);
        var sleeper = System.Diagnostics.Process.Start("sleep", "300");
        _spawned.Add(sleeper);

        string[] attempts =
        [
            "sysrq", "core_pattern", "sysfs", "mount", "umount", "unshare_user", "unshare_mount", $"hostroot={secret}",
            $"ptrace={sleeper.Id}", "capset", "module", "keyctl", "bpf", "ioperm", "fds", "cwd", $"chroot={secret}",
            "blockdev", "kcore", "forkbomb", "membomb=512", "seccomp_status",
        ];
        using var b = ProbeBundle(attempts);
        b.Spec.Linux!.Resources = new SpecResources
        {
            Devices = [new SpecDeviceRule { Allow = false, Access = "rwm" }],
            Pids = new SpecPids { Limit = 64 },
            Memory = new SpecMemory { Limit = 64 << 20, Swap = 64 << 20 },
        };
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        var r = Probe.Parse(output);
        AssertBlocked(r, [.. attempts.Where(a => a != "seccomp_status").Select(a => a.Split('=')[0])]);
        // The reasons are the layers we expect, not accidents.
        Assert.Equal("blocked (EPERM)", r["unshare_user"]); // seccomp (no CAP_SYS_ADMIN → unshare not allowed)
        Assert.Equal("blocked (EPERM)", r["keyctl"]);       // seccomp: keyctl/add_key are never allowed
        Assert.Equal("blocked (EPERM)", r["bpf"]);
        Assert.Equal("blocked (EROFS)", r["core_pattern"]); // read-only /proc/sys
        Assert.Equal("blocked (ESRCH)", r["ptrace"]);       // pid namespace: the host process does not exist here
        Assert.Equal("blocked (EPERM)", r["blockdev"]);     // devices cgroup
        Assert.StartsWith("blocked (EAGAIN after", r["forkbomb"]); // pids limit
        Assert.Equal("blocked (killed by signal 9)", r["membomb"]); // memory limit
        Assert.Equal("blocked (none leaked)", r["fds"]);
        Assert.Contains("NoNewPrivs:\t1\n", output);
        Assert.Contains("Seccomp:\t2\n", output);
        Assert.Contains("CapEff:\t00000000a80425fb\n", output); // Docker's 14 capabilities, nothing more

        // The host is unharmed.
        Assert.Equal("host secret\n", File.ReadAllText(secret));
        Assert.Equal(before, File.GetLastWriteTimeUtc(secret));
        Assert.False(sleeper.HasExited);
        Assert.Contains("TracerPid:\t0", File.ReadAllText($"/proc/{sleeper.Id}/status"));
        Assert.Empty(HostMountsUnder(_hostDir));
    }

    [SkippableFact]
    public void RuntimeBinaryCannotBeRewrittenThroughProcExe()
    {
        // CVE-2019-5736: hold /proc/PID/exe of the runtime's init, let it exec the container process, then reopen
        // the held file for writing to replace the host's runtime. Tried from the host as root, which is stronger
        // than anything inside the container (there, init is not even visible: pid 1 becomes the process itself).
        var (bin, sealedInit) = ContainerHarness.Binary;
        using var b = new TestBundle("sleep", "30");
        var rt = _h.Runtime();
        var id = ContainerHarness.NewId("exe");
        _h.Track(id);
        int pid = rt.Create(id, b.Write());
        var exe = File.OpenHandle($"/proc/{pid}/exe", FileMode.Open, FileAccess.Read);
        try
        {
            rt.Start(id);
            var sw = Stopwatch.StartNew();
            while (!File.ReadAllText($"/proc/{pid}/comm").StartsWith("sleep") && sw.ElapsedMilliseconds < 5000) Thread.Sleep(10);
            var held = $"/proc/self/fd/{exe.DangerousGetHandle()}";
            if (sealedInit)
            {
                var e = Assert.ThrowsAny<IOException>(() => File.OpenHandle(held, FileMode.Open, FileAccess.Write).Dispose());
                Assert.Contains("Read-only file system", e.Message);
            }
            // Either way the real binary is untouched.
            Assert.True(new FileInfo(bin).Length > 0);
        }
        finally
        {
            exe.Dispose();
            rt.Kill(id, 9);
            var sw = Stopwatch.StartNew();
            while (rt.State(id).Status != "stopped" && sw.ElapsedMilliseconds < 5000) Thread.Sleep(10);
            rt.Delete(id, force: true);
        }
        _h.AssertGone(id, b);
        Skip.IfNot(sealedInit, "the write through the held exe was not tried: " + "needs the NativeAOT tinyort (TINYO_BIN, as make test sets): a framework-dependent build cannot run sealed");
    }

    [Fact]
    public void LeakedDescriptorsCannotBeTheWorkingDirectory()
    {
        // CVE-2024-21626: cwd = /proc/self/fd/N naming a host directory the runtime still had open.
        for (int fd = 3; fd <= 12; fd++)
        {
            using var b = ProbeBundle("cwd", "fds");
            b.Spec.Process!.Cwd = $"/proc/self/fd/{fd}";
            var id = ContainerHarness.NewId("cwdfd");
            _h.Track(id);
            try
            {
                var (st, output) = _h.Run(b, id);
                var r = Probe.Parse(output);
                AssertBlocked(r, "cwd", "fds");
            }
            catch (RtException e)
            {
                Assert.Contains("cwd", e.Message); // refused before the process ran: also fine
                _h.AssertGone(id, b);
            }
        }
    }

    [Fact]
    public void MountDestinationSymlinksCannotLeaveTheRootfs()
    {
        var target = Path.Combine(_hostDir, "target");
        Directory.CreateDirectory(target);
        using var b = new TestBundle("sh", "-c", "echo pwned > /mnt/abs/x; echo pwned > /mnt/rel/x; echo pwned > /mnt/bind/x; echo done");
        Directory.CreateDirectory(Path.Combine(b.Rootfs, "mnt"));
        File.CreateSymbolicLink(Path.Combine(b.Rootfs, "mnt", "abs"), target);
        File.CreateSymbolicLink(Path.Combine(b.Rootfs, "mnt", "rel"), "../../../../../../../../../../.." + target);
        File.CreateSymbolicLink(Path.Combine(b.Rootfs, "mnt", "bind"), target);
        var src = Directory.CreateTempSubdirectory("tinyo-src-").FullName;
        try
        {
            b.Spec.Mounts!.Add(new SpecMount { Destination = "/mnt/abs", Type = "tmpfs", Source = "tmpfs" });
            b.Spec.Mounts.Add(new SpecMount { Destination = "/mnt/rel", Type = "tmpfs", Source = "tmpfs" });
            b.Spec.Mounts.Add(new SpecMount { Destination = "/mnt/bind", Type = "bind", Source = src, Options = ["rbind", "rw"] });
            // The symlinks resolve inside the rootfs, where their targets do not exist: refused, host untouched.
            var id = ContainerHarness.NewId("symlink");
            _h.Track(id);
            var e = Assert.Throws<RtException>(() => _h.Run(b, id));
            Assert.Contains("mount destination", e.Message);
            _h.AssertGone(id, b);
            Assert.Empty(Directory.GetFileSystemEntries(target));
            Assert.Empty(HostMountsUnder(_hostDir));
            // Once the targets exist inside the rootfs, the mounts land there — and still not on the host.
            Directory.CreateDirectory(Path.Combine(b.Rootfs, target.TrimStart('/')));
            var (st, output) = _h.Run(b);
            Assert.Equal(0, st.Code);
            Assert.Equal("done\n", output);
            Assert.Empty(Directory.GetFileSystemEntries(target)); // nothing written on the host
            Assert.Empty(HostMountsUnder(_hostDir));              // nothing mounted on the host
            Assert.Equal("pwned\n", File.ReadAllText(Path.Combine(src, "x"))); // the bind mount went where it belonged
        }
        finally { Directory.Delete(src, recursive: true); }
    }

    [Fact]
    public void SymlinkSwapRaceDuringSetupStaysInside()
    {
        // TOCTOU: while the runtime sets up a mount on /mnt/race, a host thread (standing in for a process that
        // controls the rootfs) keeps swapping that directory for a symlink to a host directory.
        var target = Path.Combine(_hostDir, "race-target");
        Directory.CreateDirectory(target);
        using var b = new TestBundle("sh", "-c", "echo pwned > /mnt/race/x 2>/dev/null; echo done");
        var mnt = Path.Combine(b.Rootfs, "mnt");
        Directory.CreateDirectory(mnt);
        var race = Path.Combine(mnt, "race");
        Directory.CreateDirectory(race);
        b.Spec.Mounts!.Add(new SpecMount { Destination = "/mnt/race", Type = "tmpfs", Source = "tmpfs" });
        b.Write();
        using var stop = new CancellationTokenSource();
        int swaps = 0;
        var swapper = new Thread(() =>
        {
            var spare = Path.Combine(mnt, ".spare");
            bool toLink = true;
            while (!stop.IsCancellationRequested)
            {
                // Put the other kind at .spare, exchange it atomically with race, remove what came back.
                try
                {
                    if (toLink) File.CreateSymbolicLink(spare, target); else Directory.CreateDirectory(spare);
                    if (RenameAt2(-100, spare, -100, race, 2 /* RENAME_EXCHANGE */) == 0) { swaps++; toLink = !toLink; }
                    if (new FileInfo(spare).LinkTarget is null) Directory.Delete(spare, recursive: true);
                    else File.Delete(spare);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            }
        });
        swapper.Start();
        try
        {
            for (int i = 0; i < 15; i++)
            {
                var id = ContainerHarness.NewId("race");
                _h.Track(id);
                try { _h.Run(b, id); }
                catch (RtException) { _h.AssertGone(id, b); } // a setup that noticed the swap and refused is fine
                Assert.Empty(Directory.GetFileSystemEntries(target));
                Assert.Empty(HostMountsUnder(_hostDir));
            }
        }
        finally { stop.Cancel(); swapper.Join(); }
        Assert.True(swaps > 15, $"only {swaps} swaps: the race did not run");
        Assert.Empty(Directory.GetFileSystemEntries(target));
    }

    private static int RenameAt2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags) =>
        Tinyo.Linux.Libc.RenameAt2(olddirfd, Tinyo.Linux.Libc.Utf8z(oldpath), newdirfd, Tinyo.Linux.Libc.Utf8z(newpath), flags);
}
