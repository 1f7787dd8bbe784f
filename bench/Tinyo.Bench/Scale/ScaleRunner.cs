using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Tinyo.Bench.Env;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Bench.Scale;

/// <summary>
/// COUNT detached containers (<c>sleep 600</c>, one bundle each, sharing a read-only busybox rootfs) created and
/// started at once, CONCURRENCY launches in flight (default: the cores), for crun and tinyort in the same run. Measures
/// the wall time until every launch returned, then memory with all of them idle: Σ PSS/RSS of the container
/// processes, RSS and PSS of any runtime process left behind (tinyort: its one exit monitor per root, which holds a
/// pidfd per detached container; crun: none), the containers' memory cgroup usage, and the host's MemAvailable/slab
/// deltas; then the teardown time (kill by pid, <c>delete --force</c> by id), and how long the exit monitor lingers
/// after the last delete (it idles out after 3 s; killed by its pid file if it has not gone after 15 s). Everything
/// is removed in <c>finally</c>: processes by pid, containers by id, the monitor by ROOT/monitor.pid, cgroups by the
/// run's unique prefix, temp roots.
/// </summary>
public static class ScaleRunner
{
    private sealed record Result(string Runtime, int Count, int Failed, double WallS, long PssKb, long RssKb, long RuntimeLeftKb,
        long RuntimeLeftPssKb, int RuntimeLeftProcs, long CgroupBytes, long MemAvailDeltaKb, long KernelDeltaKb, double TeardownS, double LoadBefore,
        double MonitorGoneS);

    public static int Run(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1000;
        var conc = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : Environment.ProcessorCount;
        var prefix = $"tinyo-bench-scale-{Environment.ProcessId}";
        using var work = new TempDir("tinyo-bench-scale-");
        var results = new List<Result>();
        var live = new ConcurrentDictionary<string, (string Runtime, string Pidfile)>();
        // Ctrl-C/SIGTERM stop the launches and fall through to the cleanup below instead of leaving 1000 containers.
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; Stopping = true; });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; Stopping = true; });
        try
        {
            var rootfs = Peers.BusyboxRootfs(work.Path);
            foreach (var rt in new[] { "crun", "tinyort" })
            {
                Console.Error.WriteLine($"scale: {count} × {rt} (concurrency {conc})");
                results.Add(RunOne(rt, count, conc, prefix, work.Path, rootfs, live));
            }
        }
        catch (OperationCanceledException e)
        {
            Console.Error.WriteLine(e.Message);
            return 130;
        }
        finally
        {
            foreach (var (id, (rt, pf)) in live) KillAndDelete(rt, id, pf, work.Path);
            StopMonitor(StateRoot(work.Path, "tinyort"), TimeSpan.Zero);
            Peers.RemoveCgroups(prefix);
            Peers.UnmountUnder(work.Path);
        }
        Console.Out.Write(Markdown(results, conc));
        return results.All(r => r.Failed == 0) ? 0 : 1;
    }

    private static volatile bool Stopping;

    private static string StateRoot(string work, string rt) => Path.Combine(work, rt + "-state");

    private static string[] Verb(string rt, string work, params string[] rest) => rt == "crun"
        ? Peers.Crun(["--root", StateRoot(work, rt), .. rest])
        : ["--root", StateRoot(work, rt), .. rest];

    private static string Exe(string rt) => rt == "crun" ? "unshare" : Peers.Tinyort;

    private static Result RunOne(string rt, int count, int conc, string prefix, string work, string rootfs,
        ConcurrentDictionary<string, (string, string)> live)
    {
        var bundles = Path.Combine(work, "bundles-" + rt);
        var cg = $"/{prefix}/{rt}";
        for (var i = 0; i < count; i++)
            Peers.Bundle(Path.Combine(bundles, i.ToString(CultureInfo.InvariantCulture)), rootfs, ["/bin/sleep", "600"], $"{cg}/c{i}");
        var load = LoadAverage();
        var before = MemInfo();
        var failed = 0;
        var sw = Stopwatch.StartNew();
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = conc }, (i, loop) =>
        {
            if (Stopping) { loop.Stop(); return; }
            var id = $"{prefix}-{rt}-{i}";
            var b = Path.Combine(bundles, i.ToString(CultureInfo.InvariantCulture));
            var pf = Path.Combine(b, "pid");
            live[id] = (rt, pf);
            if (Cmd.RunInherited(Exe(rt), Verb(rt, work, "run", "--detach", "--pid-file", pf, "--bundle", b, id)) != 0)
                Interlocked.Increment(ref failed);
        });
        var wall = sw.Elapsed.TotalSeconds;
        if (Stopping) throw new OperationCanceledException("scale: interrupted; cleaning up");
        Thread.Sleep(1000); // let exiting runtime processes go before measuring
        var after = MemInfo();
        var pids = new HashSet<int>();
        long pss = 0, rss = 0;
        foreach (var (_, (r, pf)) in live)
        {
            if (r != rt || !File.Exists(pf) || !int.TryParse(File.ReadAllText(pf).Trim(), out var pid)) continue;
            pids.Add(pid);
            pss += Field($"/proc/{pid}/smaps_rollup", "Pss:");
            rss += Field($"/proc/{pid}/status", "VmRSS:");
        }
        // Runtime processes still alive that belong to this run (their command line names its state root).
        long leftKb = 0, leftPssKb = 0;
        var leftProcs = 0;
        foreach (var d in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), out var pid) || pids.Contains(pid) || pid == Environment.ProcessId) continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(d, "cmdline"));
                if (!cmdline.Contains(work, StringComparison.Ordinal)) continue;
                leftProcs++;
                leftKb += Field(Path.Combine(d, "status"), "VmRSS:");
                leftPssKb += Field(Path.Combine(d, "smaps_rollup"), "Pss:");
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        long cgBytes = 0;
        var usage = $"/sys/fs/cgroup/memory{cg}/memory.usage_in_bytes";
        if (File.Exists(usage)) cgBytes = long.Parse(File.ReadAllText(usage).Trim(), CultureInfo.InvariantCulture);

        var tsw = Stopwatch.StartNew();
        Parallel.ForEach(live.Where(kv => kv.Value.Item1 == rt).ToList(), new ParallelOptions { MaxDegreeOfParallelism = conc }, kv =>
        {
            KillAndDelete(rt, kv.Key, kv.Value.Item2, work);
            live.TryRemove(kv.Key, out _);
        });
        var teardown = tsw.Elapsed.TotalSeconds;
        // tinyort's exit monitor idles out 3 s after its last container; wait for it (bounded), then kill it by pid.
        var msw = Stopwatch.StartNew();
        var monitorGone = StopMonitor(StateRoot(work, rt), TimeSpan.FromSeconds(15)) ? msw.Elapsed.TotalSeconds : double.NaN;
        Peers.RemoveCgroups(prefix);
        ImageGcDelete(bundles);
        return new Result(rt, count, failed, wall, pss, rss, leftKb, leftPssKb, leftProcs, cgBytes,
            before["MemAvailable"] - after["MemAvailable"],
            after["Slab"] + after["KernelStack"] + after["PageTables"] - before["Slab"] - before["KernelStack"] - before["PageTables"],
            teardown, load, monitorGone);
    }

    /// <summary>
    /// Waits up to <paramref name="grace"/> for the exit monitor of ROOT (if any) to exit by itself, then SIGKILLs it
    /// by ROOT/monitor.pid — only if that pid still runs the monitor verb on this root. True when there was a
    /// monitor and it went by itself.
    /// </summary>
    private static bool StopMonitor(string root, TimeSpan grace)
    {
        var pidfile = Path.Combine(root, "monitor.pid");
        var sw = Stopwatch.StartNew();
        var seen = false;
        while (true)
        {
            int pid;
            try { if (!int.TryParse(File.ReadAllText(pidfile).Trim(), out pid)) return seen; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return seen; }
            string cmdline;
            try { cmdline = File.ReadAllText($"/proc/{pid}/cmdline"); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return seen; }
            if (!cmdline.Contains("\0monitor\0" + root + "\0", StringComparison.Ordinal)) return seen;
            seen = true;
            if (sw.Elapsed >= grace)
            {
                Console.Error.WriteLine($"scale: exit monitor {pid} of {root} still running after {grace.TotalSeconds:0} s: killing it");
                try { System.Diagnostics.Process.GetProcessById(pid).Kill(); } catch (Exception e) when (e is ArgumentException or InvalidOperationException) { }
                return false;
            }
            Thread.Sleep(50);
        }
    }

    private static void ImageGcDelete(string dir)
    {
        try { Tinyo.Rt.Images.ImageGc.DeleteTree(dir); } catch (IOException) { }
    }

    /// <summary>SIGKILL by the pid from its pid file (only if it is still our sleep), then delete --force by id.</summary>
    private static void KillAndDelete(string rt, string id, string pidfile, string work)
    {
        try
        {
            if (File.Exists(pidfile) && int.TryParse(File.ReadAllText(pidfile).Trim(), out var pid) &&
                File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("/bin/sleep", StringComparison.Ordinal))
                System.Diagnostics.Process.GetProcessById(pid).Kill();
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException or UnauthorizedAccessException) { }
        Cmd.TryRun(Exe(rt), Verb(rt, work, "delete", "--force", id));
    }

    private static long Field(string file, string name)
    {
        try
        {
            foreach (var line in File.ReadLines(file))
                if (line.StartsWith(name, StringComparison.Ordinal))
                    return long.Parse(line[name.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException) { }
        return 0;
    }

    private static Dictionary<string, long> MemInfo() =>
        File.ReadLines("/proc/meminfo").Select(l => l.Split(':')).ToDictionary(p => p[0],
            p => long.Parse(p[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture));

    private static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

    private static string Markdown(List<Result> rs, int conc)
    {
        var w = new StringWriter(CultureInfo.InvariantCulture);
        w.WriteLine($"| Runtime | Containers | Failed | Wall (s) | Starts/s | Σ PSS of containers (MiB) | Σ RSS (MiB) | Runtime procs left (RSS / PSS MiB) | cgroup memory.usage (MiB) | Δ MemAvailable per container (KiB) | Δ slab+stacks+pagetables per container (KiB) | Teardown (s) | Monitor gone after teardown (s) | load avg at start |");
        w.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rs)
            w.WriteLine($"| {r.Runtime} | {r.Count} | {r.Failed} | {r.WallS:0.00} | {r.Count / r.WallS:0} | {r.PssKb / 1024.0:0.0} | {r.RssKb / 1024.0:0.0} | {r.RuntimeLeftProcs} ({r.RuntimeLeftKb / 1024.0:0.0} / {r.RuntimeLeftPssKb / 1024.0:0.0}) | {r.CgroupBytes / 1048576.0:0.0} | {(double)r.MemAvailDeltaKb / r.Count:0.0} | {(double)r.KernelDeltaKb / r.Count:0.0} | {r.TeardownS:0.00} | {(double.IsNaN(r.MonitorGoneS) ? "-" : r.MonitorGoneS.ToString("0.0", CultureInfo.InvariantCulture))} | {r.LoadBefore:0.0} |");
        var c = rs.FirstOrDefault(r => r.Runtime == "crun");
        var t = rs.FirstOrDefault(r => r.Runtime == "tinyort");
        if (c is not null && t is not null)
        {
            w.WriteLine();
            w.WriteLine($"Concurrency {conc}. tinyort/crun: wall {t.WallS / c.WallS:0.00}× (goal ≤ 0.2×), " +
                        $"memory (Σ PSS + runtime procs left, by PSS) {(double)(t.PssKb + t.RuntimeLeftPssKb) / Math.Max(1, c.PssKb + c.RuntimeLeftPssKb):0.00}× " +
                        $"(by RSS {(double)(t.PssKb + t.RuntimeLeftKb) / Math.Max(1, c.PssKb + c.RuntimeLeftKb):0.00}×; tinyort's runtime processes left are its exit monitor, one per root, " +
                        $"not per container: {t.RuntimeLeftKb / 1024.0:0.0} MiB RSS, {t.RuntimeLeftPssKb / 1024.0:0.0} MiB PSS — mostly the binary's pages, shared with any other tinyort process running at the time; it is outside the containers' cgroup), " +
                        $"cgroup usage {(double)t.CgroupBytes / Math.Max(1, c.CgroupBytes):0.00}× (goal ≤ 0.5×), " +
                        $"host memory per idle container beyond the app, kernel side (Δ slab+stacks+pagetables) tinyort {t.KernelDeltaKb / (double)t.Count:0.0} KiB vs crun {c.KernelDeltaKb / (double)c.Count:0.0} KiB, " +
                        $"cgroup usage per container tinyort {t.CgroupBytes / 1024.0 / t.Count:0.0} KiB vs crun {c.CgroupBytes / 1024.0 / c.Count:0.0} KiB (goal ≤ 512 KiB; Δ MemAvailable is dominated by other processes on a shared host). " +
                        "crun's wall time includes its unshare/umount wrapper (see the Start suite for its cost).");
        }
        return w.ToString();
    }
}
