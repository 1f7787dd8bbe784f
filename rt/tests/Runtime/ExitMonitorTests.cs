using System.Diagnostics;
using System.Text.Json;
using Tinyo.Linux;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Processes;
using Tinyo.Rt.Tests.RunImage;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// Exit codes of detached containers are recorded after the CLI that started them exited: the root's exit monitor
/// (Processes/ExitMonitor) reads them from a pidfd (PIDFD_GET_INFO, Linux ≥ 6.15). Real containers through the
/// tinyort binary; every monitor a test starts is killed by its pid file on dispose.
/// </summary>
[Collection("containers")]
public sealed class ExitMonitorTests : IDisposable
{
    private readonly ContainerHarness _h = new();

    public void Dispose() => _h.Dispose(); // kills the root's monitor too

    /// <summary>Kills the monitor of <paramref name="root"/> (checked to be one by its command line) and waits for it to go.</summary>
    internal static void KillMonitor(RuntimeRoot root)
    {
        foreach (var pid in MonitorPids(root))
        {
            try
            {
                using var p = Process.GetProcessById(pid);
                p.Kill();
                p.WaitForExit(5000);
            }
            catch (ArgumentException) { } // gone already
            catch (InvalidOperationException) { }
        }
    }

    /// <summary>The monitor processes serving <paramref name="root"/>: the pid file's and any found by command line.</summary>
    internal static List<int> MonitorPids(RuntimeRoot root)
    {
        var l = new List<int>();
        foreach (var d in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), out var pid)) continue;
            string cmd;
            try { cmd = File.ReadAllText(Path.Combine(d, "cmdline")); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            var args = cmd.Split('\0');
            if (args.Length >= 3 && args[1] == "monitor" && args[2] == root.Path) l.Add(pid);
        }
        return l;
    }

    private static bool KernelSupports => Environment.OSVersion.Version >= new Version(6, 15);

    private static void SkipUnlessKernelSupports() =>
        Skip.IfNot(KernelSupports, $"the exit monitor needs PIDFD_GET_INFO (Linux ≥ 6.15); this kernel is {Environment.OSVersion.Version}");

    /// <summary>Polls <c>state ID</c> until it carries an exit code (the pid 1 here reaps slowly: ≈ 2 s).</summary>
    private JsonElement WaitExit(string id, int timeoutMs = 20_000)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var (code, o, e) = _h.Cli(["state", id]);
            Assert.True(code == 0, e);
            var doc = JsonDocument.Parse(o).RootElement.Clone();
            if (doc.TryGetProperty("exitCode", out _)) return doc;
            Assert.True(sw.ElapsedMilliseconds < timeoutMs, $"no exit code recorded for {id} after {timeoutMs} ms: {o}\nmonitor log: {MonitorLog(_h.Root)}");
            Thread.Sleep(100);
        }
    }

    internal static string MonitorLog(RuntimeRoot root)
    {
        var f = Path.Combine(root.Path, "monitor.log");
        return File.Exists(f) ? File.ReadAllText(f) : "(none)";
    }

    [SkippableFact]
    public void DetachedRunExitCodeIsRecordedAfterTheCliExited()
    {
        SkipUnlessKernelSupports();
        using var b = new TestBundle("sh", "-c", "sleep 0.3; exit 7");
        var id = ContainerHarness.NewId("mon");
        _h.Track(id);
        var (code, _, err) = _h.Cli(["run", "-d", "--bundle", b.Write(), id]);
        Assert.True(code == 0, err);
        var st = WaitExit(id);
        Assert.Equal("stopped", st.GetProperty("status").GetString());
        Assert.Equal(7, st.GetProperty("exitCode").GetInt32());
        Assert.Equal(0, st.GetProperty("exitSignal").GetInt32());
        Assert.False(st.GetProperty("oomKilled").GetBoolean());
        Assert.Equal(0, _h.Cli(["delete", id]).Code);
        _h.AssertGone(id, b);
    }

    [SkippableFact]
    public void CreateStartKilledBySigkillRecords137AndSignal9()
    {
        SkipUnlessKernelSupports();
        using var b = new TestBundle("sleep", "1000");
        var id = ContainerHarness.NewId("mon");
        _h.Track(id);
        var (code, _, err) = _h.Cli(["create", "--bundle", b.Write(), id]);
        Assert.True(code == 0, err);
        Assert.Equal(0, _h.Cli(["start", id]).Code);
        var state = _h.Cli(["state", id]);
        int pid = System.Text.Json.JsonDocument.Parse(state.Out).RootElement.GetProperty("pid").GetInt32();
        // Killed from the host, as an OOM killer or an operator would: pid 1 of its namespace ignores its own SIGKILL.
        Assert.Equal(0, Libc.Kill(pid, 9));
        var st = WaitExit(id);
        Assert.Equal(137, st.GetProperty("exitCode").GetInt32());
        Assert.Equal(9, st.GetProperty("exitSignal").GetInt32());
        Assert.False(st.GetProperty("oomKilled").GetBoolean());
    }

    [Fact]
    public void AnEngineThatAsksForThePidWatchesItselfSoNoMonitorIsStarted()
    {
        // containerd's shim and conmon pass --pid-file and reap the container as its subreaper: a monitor would only
        // linger beside them (it did, after Docker's tests stopped their engine).
        using var b = new TestBundle("sleep", "1000");
        var id = ContainerHarness.NewId("mon");
        _h.Track(id);
        var (code, _, err) = _h.Cli(["create", "--bundle", b.Write(), "--pid-file", Path.Combine(_h.Root.Path, "pid"), id]);
        Assert.True(code == 0, err);
        Assert.False(File.Exists(Path.Combine(_h.Root.Path, "monitor.pid")), "an exit monitor was started for an engine's container");
        Assert.Equal(0, _h.Cli(["delete", "--force", id]).Code);
    }

    [SkippableFact]
    public void OomKillIsRecordedAsSuch()
    {
        SkipUnlessKernelSupports();
        using var b = new TestBundle("tail", "/dev/zero"); // buffers an endless line
        b.Spec.Linux!.Resources = new SpecResources { Memory = new SpecMemory { Limit = 16 << 20 } };
        var id = ContainerHarness.NewId("mon");
        _h.Track(id);
        var (code, _, err) = _h.Cli(["run", "-d", "--bundle", b.Write(), id]);
        Assert.True(code == 0, err);
        var st = WaitExit(id);
        Assert.Equal(137, st.GetProperty("exitCode").GetInt32());
        Assert.True(st.GetProperty("oomKilled").GetBoolean());
    }

    [SkippableFact]
    public void ConcurrentDetachedRunsShareOneMonitorWhichExitsWhenIdle()
    {
        SkipUnlessKernelSupports();
        using var b = new TestBundle("sh", "-c", "sleep 1.5; exit 3");
        var dir = b.Write();
        var ids = Enumerable.Range(0, 4).Select(_ => ContainerHarness.NewId("mon")).ToList();
        foreach (var id in ids) _h.Track(id);
        // Four CLIs at once on a root without a monitor: one of them starts it, the others hand over to it.
        var procs = ids.Select(id => Process.Start(new ProcessStartInfo(ContainerHarness.Binary.Path)
        {
            ArgumentList = { "--root", _h.Root.Path, "run", "-d", "--bundle", dir, id },
            RedirectStandardError = true, RedirectStandardOutput = true,
        })!).ToList();
        foreach (var p in procs)
        {
            Assert.True(p.WaitForExit(60_000));
            Assert.True(p.ExitCode == 0, p.StandardError.ReadToEnd());
            p.Dispose();
        }
        var sw = Stopwatch.StartNew();
        List<int> monitors;
        while (((monitors = MonitorPids(_h.Root)).Count == 0 || ExitMonitor.PidOf(_h.Root) is null) && sw.ElapsedMilliseconds < 10_000) Thread.Sleep(20);
        Assert.Single(monitors);
        Assert.Equal(monitors[0], ExitMonitor.PidOf(_h.Root));
        foreach (var id in ids) Assert.Equal(3, WaitExit(id).GetProperty("exitCode").GetInt32());
        Assert.Single(MonitorPids(_h.Root));

        // Nothing left to watch: it exits by itself after its idle time (3 s) and removes its socket and pid file.
        sw.Restart();
        while (MonitorPids(_h.Root).Count > 0 && sw.ElapsedMilliseconds < 15_000) Thread.Sleep(100);
        Assert.Empty(MonitorPids(_h.Root));
        Assert.False(File.Exists(Path.Combine(_h.Root.Path, "monitor.sock")));
        Assert.False(File.Exists(Path.Combine(_h.Root.Path, "monitor.pid")));
        Assert.False(File.Exists(Path.Combine(_h.Root.Path, "monitor.log")), MonitorLog(_h.Root));

        // The next detached run starts a new one; its exit is recorded all the same.
        var last = ContainerHarness.NewId("mon");
        _h.Track(last);
        using var quick = new TestBundle("sh", "-c", "exit 5");
        Assert.Equal(0, _h.Cli(["run", "-d", "--bundle", quick.Write(), last]).Code);
        Assert.Equal(5, WaitExit(last).GetProperty("exitCode").GetInt32());
        foreach (var id in ids.Append(last)) Assert.Equal(0, _h.Cli(["delete", id]).Code);
    }

    [SkippableFact]
    public void ADeletedContainerIsLeftAloneAndAStaleSocketIsReplaced()
    {
        SkipUnlessKernelSupports();
        // A stale socket file (a monitor killed with -9) must not stop the next one.
        using (var stale = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
            stale.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(Path.Combine(_h.Root.Path, "monitor.sock")));
        using var b = new TestBundle("sleep", "1000");
        var id = ContainerHarness.NewId("mon");
        _h.Track(id);
        Assert.Equal(0, _h.Cli(["run", "-d", "--bundle", b.Write(), id]).Code);
        Assert.Equal(0, _h.Cli(["delete", "--force", id]).Code);
        _h.AssertGone(id, b);
        // The monitor saw the process die and found no state to write to: it must not have made any.
        var again = ContainerHarness.NewId("mon");
        _h.Track(again);
        using var quick = new TestBundle("sh", "-c", "exit 9");
        Assert.Equal(0, _h.Cli(["run", "-d", "--bundle", quick.Write(), again]).Code);
        Assert.Equal(9, WaitExit(again).GetProperty("exitCode").GetInt32());
        Assert.False(Directory.Exists(Path.Combine(_h.Root.Containers, id)));
        Assert.Single(MonitorPids(_h.Root));
    }

    [Fact]
    public void AHandStartedMonitorWithoutTheLockRefusesToRun()
    {
        // The hidden verb typed by hand: fd 4 is not the root's monitor lock, so it must not bind over anything.
        var (code, _, err) = _h.Cli(["monitor", _h.Root.Path, "x", "1", "1"], withRoot: false);
        Assert.Equal(1, code);
        Assert.Contains("without the monitor lock", err);
        Assert.False(File.Exists(Path.Combine(_h.Root.Path, "monitor.sock")));
        Assert.Empty(MonitorPids(_h.Root));
    }

    [Fact]
    public void ExitInfoErrorsMapToUnsupportedOrLost()
    {
        Assert.Equal(ExitRead.Exited, ExitInfo.Map(0, 0, Libc.PIDFD_INFO_EXIT | 4));
        Assert.Equal(ExitRead.NotYet, ExitInfo.Map(0, 0, 4));
        Assert.Equal(ExitRead.Unsupported, ExitInfo.Map(-1, 25 /* ENOTTY: kernel before pidfs ioctls */, 0));
        Assert.Equal(ExitRead.Unsupported, ExitInfo.Map(-1, 22 /* EINVAL */, 0));
        Assert.Equal(ExitRead.Lost, ExitInfo.Map(-1, 3 /* ESRCH: reaped, status not kept */, 0));
        Assert.Equal(ExitRead.Lost, ExitInfo.Map(-1, 9 /* EBADF */, 0));
        // Not a pidfd at all: the kernel refuses the request, and that reads as "cannot tell", never as an exit.
        int fd = Libc.SysOpen("/dev/null", Libc.OFlag.RdOnly | Libc.OFlag.Cloexec, 0);
        try { Assert.NotEqual(ExitRead.Exited, ExitInfo.Read(fd, out _)); }
        finally { Libc.SysClose(fd); }
    }

    [SkippableFact]
    public async Task ExitInfoReadsAReparentedGrandchildsExit()
    {
        SkipUnlessKernelSupports();
        // sh starts a background grandchild and exits: the grandchild is reparented (not our child), as a container
        // is after its CLI exits. We learn its exit only through the pidfd.
        var (code, o, e) = Fixtures.TestPaths.Run("/bin/sh", ["-c", "(sleep 0.5; exit 42) >/dev/null 2>&1 & echo $!"]);
        Assert.True(code == 0, e);
        int pid = int.Parse(o.Trim());
        int pidfd = Libc.PidfdOpen(pid);
        Assert.True(pidfd >= 0, "pidfd_open");
        try
        {
            Assert.Equal(ExitRead.NotYet, ExitInfo.Read(pidfd, out _));
            Assert.Equal(1, PollReadable(pidfd, 10_000));
            var ws = await ExitInfo.WaitReapedAsync(pidfd, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(20));
            Assert.NotNull(ws);
            Assert.Equal((42, 0), ExitInfo.Decode(ws!.Value));
        }
        finally { Libc.SysClose(pidfd); }
    }

    private static unsafe int PollReadable(int fd, int timeoutMs)
    {
        var poll = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
        return Libc.SysPoll(&poll, 1, timeoutMs);
    }

    [SkippableFact]
    public void ImageRunDetachedShowsItsExitCodeInPsAndInspect()
    {
        SkipUnlessKernelSupports();
        var r = new ImageRoot();
        try
        {
            var (code, o, e) = r.Cli("run", "-d", "--name", "seven", "busybox", "sh", "-c", "exit 7");
            Assert.True(code == 0, e);
            var sw = Stopwatch.StartNew();
            string ps;
            while (!(ps = r.Cli("ps", "-a").Out).Contains("Exited (7)") && sw.ElapsedMilliseconds < 20_000) Thread.Sleep(100);
            Assert.Contains("Exited (7)", ps);
            var (icode, inspect, ierr) = r.Cli("inspect", "seven");
            Assert.True(icode == 0, ierr);
            using var doc = JsonDocument.Parse(inspect);
            Assert.Equal(7, doc.RootElement[0].GetProperty("ExitCode").GetInt32());
        }
        finally { r.Dispose(); } // kills the root's monitor too
    }
}
