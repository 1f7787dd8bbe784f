using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Tinyo.Bench.Env;
using Tinyo.Rt;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Setup;
using Tinyo.Rt.Images;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Bench.Scale;

/// <summary>
/// <c>Tinyo.Bench innode [N]</c>: where an in-node start's time goes (issue 16). The same path as the
/// <c>InNodeStart</c> suite — a detached busybox image container on overlay through <see cref="ImageContainers.Run"/>,
/// its exit observed (waitid WNOWAIT) and collected with <see cref="ContainerRuntime.CollectExit"/>, as tinyonode does —
/// with <see cref="StartTrace"/> on (its child rows too: the clone child's own steps), so each phase's share is printed (median over N starts, after 5 warm-up starts);
/// then the OCI bundle path (Launch → Wait, no overlay) and the C floor (<c>out/bench/start-floor</c>, plain and
/// overlay) in the same run. Run it with <c>DOTNET_TieredCompilation=0</c> (the node runs this code AOT-compiled).
/// </summary>
public static class InNodeSpans
{
    /// <summary>Runs the breakdown; returns the process exit code.</summary>
    public static int Run(string[] args)
    {
        int n = args is [var c, ..] ? int.Parse(c, CultureInfo.InvariantCulture) : 100;
        using var work = new TempDir("tinyo-bench-spans-");
        var root = new RuntimeRoot(Path.Combine(work.Path, "root"));
        Cmd.Run(Peers.Tinyort, "--root", root.Path, "load", BusyboxImage.Get().Layout, "--name", "busybox");
        var store = new ImageStore(root);
        var img = store.Load(store.Find("busybox"));
        var rt = new ContainerRuntime(root, new RuntimeOptions { InitCommand = [Peers.Tinyort], SealInit = true });
        var ic = new ImageContainers(rt);
        var rootfs = Peers.BusyboxRootfs(work.Path);
        var bundle = Peers.Bundle(Path.Combine(work.Path, "bundle"), rootfs, ["/bin/true"]);
        var spans = new Dictionary<string, List<double>>();
        var order = new List<string>();
        var totals = new List<double>();
        var bundles = new List<double>();
        StartTrace.Enabled = true;
        try
        {
            for (int i = -5; i < n; i++)
            {
                IReadOnlyList<(string What, double Ms)> marks;
                string id;
                using (var trace = StartTrace.Begin()!)
                {
                    var s = ic.Run(new RunOptions { Image = "busybox", Detach = true, Command = ["/bin/true"], Network = "none" }, img);
                    StartTrace.Mark("returned");
                    if (Tinyo.Linux.Libc.WaitExitedNoReap(s.Pid) != 0)
                        throw new InvalidOperationException($"waitid: errno {Marshal.GetLastPInvokeError()}");
                    StartTrace.Mark("exit observed");
                    if (rt.CollectExit(s.Id) is not { Code: 0 }) throw new InvalidOperationException($"container {s.Id}: no exit 0");
                    StartTrace.Mark("exit collected");
                    id = s.Id;
                    trace.Dispose();
                    marks = trace.Spans();
                }
                ic.Remove(id, force: true);
                if (i < 0) continue;
                double total = 0;
                foreach (var (name, ms) in marks)
                {
                    if (!spans.TryGetValue(name, out var l)) { spans[name] = l = []; order.Add(name); }
                    l.Add(ms);
                    total += ms;
                }
                totals.Add(total);
            }
            StartTrace.Enabled = false;
            for (int i = -5; i < n; i++)
            {
                var id = $"spans-{Environment.ProcessId}-{i + 5}";
                long t0 = Stopwatch.GetTimestamp();
                var st = rt.Launch(id, bundle, detached: false).Wait(remove: false);
                double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                rt.Delete(id, force: true);
                if (st.Code != 0) throw new InvalidOperationException($"bundle container: exit {st.Code}");
                if (i >= 0) bundles.Add(ms);
            }
        }
        finally
        {
            StartTrace.Enabled = false;
            foreach (var c2 in ic.List()) try { ic.Remove(c2.Id, force: true); } catch (RtException) { }
        }
        Console.WriteLine($"in-node start breakdown, {n} starts (median ms per phase; load {File.ReadAllText("/proc/loadavg").Trim()}, {DateTime.UtcNow:u})");
        Console.WriteLine("| phase | median | p10 | p90 |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var name in order) Row(name, spans[name]);
        Row("**image container: request → exit collected**", totals);
        Row("**bundle (no overlay): Launch → Wait**", bundles);
        var floor = Path.Combine(TestPaths.RepoRoot, "out", "bench", "start-floor");
        if (File.Exists(floor))
            foreach (var overlay in new[] { false, true })
                Console.WriteLine("C floor: " + Cmd.Run(floor, overlay ? [rootfs, "--overlay", "-n", n.ToString(CultureInfo.InvariantCulture)] : [rootfs, "-n", n.ToString(CultureInfo.InvariantCulture)]).Trim());
        else Console.WriteLine($"C floor: {floor} missing (make out/bench/start-floor)");
        return 0;
    }

    private static void Row(string name, List<double> v)
    {
        v.Sort();
        double P(double q) => v[Math.Min(v.Count - 1, (int)(q * v.Count))];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {P(0.5):F2} | {P(0.1):F2} | {P(0.9):F2} |"));
    }
}
