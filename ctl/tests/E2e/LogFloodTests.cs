using System.Diagnostics;
using Tinyo.Rt.Processes;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// A container that writes as fast as it can (`yes`) through the real binaries: its log is relayed by the runtime
/// root's exit monitor, so log + .1 never exceed twice the node's cap (10 MiB each) at any sampled instant, `tio logs`
/// still gives the tail, the container is never killed; with the monitor killed it blocks (back-pressure, no
/// SIGPIPE) and a new monitor adopts its pipe.
/// </summary>
[Collection("e2e")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LogFloodTests(MirrorRegistry registry, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<MirrorRegistry>
{
    private const long Cap = 10L << 20, Bound = 2 * Cap;
    private const string Word = "0123456789abcdefghijklmnopqrstuvwxyz";

    private static long Size(string path)
    {
        try { return new FileInfo(path).Length; }
        catch (IOException) { return 0; }
    }

    [Fact]
    public async Task A_flood_stays_within_the_bound_keeps_running_and_tio_logs_gives_the_tail()
    {
        await using var n = await ReconcileNode.UpAsync(registry);
        await n.ApplyAsync("flood", $"""
            name: flood
            container: "alpine:latest"
            command: ["yes", "{Word}"]
            """);
        var app = await n.WaitAppAsync("flood", a => a.State == "running", "flood running");
        int pid = app.Containers![0].Pid;
        var id = n.IdOf("flood-1")!;
        var log = n.Containers.LogFile(id);
        var rotated = LogRelay.Rotated(log);
        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(log)!, LogRelay.FifoName)), "the container writes into its log pipe");

        // Sample the two files for 8 s: the total never exceeds the bound, and the log rotates (it is a flood).
        long peak = 0, samples = 0, inodeChanges = 0;
        ulong lastIno = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(8))
        {
            long total = Size(log) + Size(rotated);
            peak = Math.Max(peak, total);
            samples++;
            var ino = Inode(log);
            if (ino != 0 && lastIno != 0 && ino != lastIno) inodeChanges++;
            if (ino != 0) lastIno = ino;
            Assert.True(total <= Bound, $"log + .1 = {total} bytes > {Bound} after {sw.Elapsed.TotalSeconds:0.00} s");
            await Task.Delay(5);
        }
        output.WriteLine($"{samples} samples in 8 s, peak log + .1 = {peak} bytes ({peak / 1048576.0:0.00} MiB, bound {Bound >> 20} MiB), " +
                         $"{inodeChanges} rotations seen (≥ {inodeChanges * Cap / 8 / 1048576.0:0.0} MiB/s relayed)");
        Assert.True(inodeChanges >= 1, "the flood never filled the log once: nothing was measured");
        Assert.True(Size(rotated) > 0 && Size(rotated) <= Cap);

        // tio logs: the tail, lines of the flood (the last one may still be being written).
        var tail = await n.Tio("logs", "--tail", "3", "flood");
        Assert.True(tail.Code == 0, tail.Err);
        var lines = tail.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.Equal(Word, lines[0]);
        Assert.Equal(Word, lines[1]);
        Assert.StartsWith(lines[2], Word);

        // Not killed, not restarted: the same process.
        app = (await n.AppAsync("flood"))!;
        Assert.Equal("running", app.State);
        Assert.Equal(0, app.Restarts);
        Assert.Equal(pid, app.Containers![0].Pid);

        // The relay killed: the container blocks on its full pipe (no SIGPIPE), the log stops growing.
        var monitor = ExitMonitorPid(n);
        Assert.True(monitor > 0, "no exit monitor runs for the node's root");
        Assert.Equal(0, Tinyo.Linux.Libc.Kill(monitor, 9));
        await ReconcileNode.WaitAsync(() => !Running(monitor), "monitor gone");
        await Task.Delay(500);
        long frozen = Size(log) + Size(rotated);
        await Task.Delay(1500);
        Assert.Equal(frozen, Size(log) + Size(rotated));
        Assert.True(Directory.Exists($"/proc/{pid}"), "the flood died with its relay");
        Assert.Equal(0, (await n.AppAsync("flood"))!.Restarts);

        // Another container starts: a new monitor, which adopts the flood's pipe: the log moves again, within the bound.
        await n.ApplyAsync("other", """
            name: other
            container: "alpine:latest"
            command: ["sleep", "1000"]
            """);
        await n.WaitAppAsync("other", a => a.State == "running", "other running");
        var moved = Inode(log);
        await ReconcileNode.WaitAsync(() => Inode(log) != moved || Size(log) + Size(rotated) != frozen, "the flood's log relayed again");
        Assert.True(Size(log) + Size(rotated) <= Bound);
        Assert.Equal(pid, (await n.AppAsync("flood"))!.Containers![0].Pid);

        Assert.Equal(0, (await n.Tio("-", "flood")).Code);
        Assert.Equal(0, (await n.Tio("-", "other")).Code);
        await ReconcileNode.WaitAsync(() => n.AllContainerIds().Count == 0, "containers removed");
    }

    /// <summary>Whether the process exists and is not a zombie.</summary>
    private static bool Running(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException) { return false; }
    }

    private static int ExitMonitorPid(ReconcileNode n)
    {
        try { return int.Parse(File.ReadAllText(Path.Combine(n.Rt.Path, "monitor.pid")).Trim()); }
        catch (Exception e) when (e is IOException or FormatException) { return 0; }
    }

    private static ulong Inode(string path)
        => Tinyo.Linux.Libc.StatxAt(Tinyo.Linux.Libc.AT_FDCWD_, System.Text.Encoding.UTF8.GetBytes(path + "\0"), 0, out var st) == 0 ? st.Ino : 0;
}
