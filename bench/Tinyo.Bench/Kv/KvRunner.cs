using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Bench.Kv;

/// <summary>
/// <c>Tinyo.Bench kv [--runs N] [--seconds S] [--tinyokv-args "..."] [--wal-compare]</c>: a 3-member tinyokv and a 3-member etcd on
/// loopback, each started fresh for every run (alternating which goes first), measured with the same closed-loop
/// load: puts (256 B values) with 1, 32 and 256 concurrent clients (2,000, 30,000 and 60,000 puts), then linearizable
/// and serializable gets with 32 and 256, S seconds each; then every member's RSS and the data directories' size. Prints markdown with the
/// medians over the runs and the ratios (tinyokv ÷ etcd). Every process is stopped and every directory removed at
/// the end, on failure and on Ctrl-C/SIGTERM too. <c>--wal-compare</c> adds, in every run, a third 3-member tinyokv
/// whose WAL stages entries in DotNext's shared mapping of its chunk files (<c>--wal-memory shared</c>) instead of
/// private memory, and a table comparing the two settings (write rate, latency, RSS).
/// </summary>
public static class KvRunner
{
    private static readonly int[] PutClients = [1, 32, 256];
    /// <summary>
    /// Puts per phase (1, 32, 256 clients): a fixed count, so both stores hold the same history when RSS and disk
    /// are read (a faster store would otherwise be charged for having written more).
    /// </summary>
    private static readonly long[] PutOps = [2_000, 30_000, 60_000];
    private static readonly int[] GetClients = [32, 256];
    private const int KeySpace = 10_000, ValueSize = 256;
    private const string Shared = "tinyokv-shm";

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }
        var runs = int.Parse(Arg("--runs", "3"), CultureInfo.InvariantCulture);
        var seconds = double.Parse(Arg("--seconds", "5"), CultureInfo.InvariantCulture);
        var extra = Arg("--tinyokv-args", "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var walCompare = args.Contains("--wal-compare");
        var bin = Environment.GetEnvironmentVariable("TINYO_BIN") is { Length: > 0 } b ? b : Path.Combine(TestPaths.RepoRoot, "out", "bin");
        var tinyokv = Path.Combine(bin, "tinyokv");
        if (!File.Exists(tinyokv)) { Console.Error.WriteLine($"kv: {tinyokv} not found: run `make build` (or set TINYO_BIN)"); return 2; }
        var etcd = Which("etcd");
        if (etcd is null) { Console.Error.WriteLine("kv: etcd not found: run `make deps` (Debian etcd-server)"); return 2; }

        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KvCluster.KillAll();
        var keys = Enumerable.Range(0, KeySpace).Select(KvCluster.Key).ToArray();
        var value = new byte[ValueSize];
        new Random(42).NextBytes(value);
        var root = Directory.CreateTempSubdirectory("tinyo-bench-kv-").FullName;
        var results = new Results();
        try
        {
            for (var r = 0; r < runs; r++)
            {
                List<string> order = r % 2 == 0 ? ["tinyokv", "etcd"] : ["etcd", "tinyokv"];
                if (walCompare) order.Insert(r % 2 == 0 ? 0 : 2, Shared); // next to tinyokv, alternating too
                foreach (var store in order)
                {
                    var dir = Path.Combine(root, $"{store}-{r}");
                    KvCluster cluster = store switch
                    {
                        "tinyokv" => new TinyokvCluster(dir, keys, value, tinyokv, extra),
                        Shared => new TinyokvCluster(dir, keys, value, tinyokv, [.. extra, "--wal-memory", "shared"], Shared),
                        _ => new EtcdCluster(dir, keys, value, etcd),
                    };
                    RunOneAsync(cluster, results, r, TimeSpan.FromSeconds(seconds), stop.Token).GetAwaiter().GetResult();
                }
            }
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("kv: interrupted; members stopped, data removed");
            return 130;
        }
        finally
        {
            KvCluster.KillAll();
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
        Console.Out.Write(results.Markdown(runs, seconds));
        if (walCompare) Console.Out.Write(results.WalMarkdown(runs));
        return 0;
    }

    private static async Task RunOneAsync(KvCluster cluster, Results results, int run, TimeSpan duration, CancellationToken token)
    {
        await using (cluster)
        {
            Console.Error.WriteLine($"kv: run {run + 1}: starting 3 × {cluster.Name}");
            await cluster.StartAsync(token);
            var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            // Warm-up (not recorded): connections, JIT in this process, the stores' own caches.
            await LoadGenerator.RunAsync(cluster.PutAsync, 32, TimeSpan.FromSeconds(2), token);
            for (var p = 0; p < PutClients.Length; p++)
            {
                var c = PutClients[p];
                var res = await LoadGenerator.RunAsync(cluster.PutAsync, c, TimeSpan.FromMinutes(2), token, PutOps[p]);
                results.Add(cluster.Name, $"put {c}", res);
                Console.Error.WriteLine($"kv: run {run + 1} {cluster.Name,-7} put  x{c,-3}: {Line(res)} (load {load})");
            }
            // Every key exists before the reads (not recorded).
            var fill = -1;
            await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref fill)) < KeySpace) await cluster.PutAsync(i, token);
            }, token)));
            foreach (var serializable in new[] { false, true })
            {
                foreach (var c in GetClients)
                {
                    var res = await LoadGenerator.RunAsync((i, t) => cluster.GetAsync(i, serializable, t), c, duration, token);
                    var name = serializable ? "get-s" : "get-l";
                    results.Add(cluster.Name, $"{name} {c}", res);
                    Console.Error.WriteLine($"kv: run {run + 1} {cluster.Name,-7} {name} x{c,-3}: {Line(res)}");
                }
            }
            await Task.Delay(1000, token);
            var rss = cluster.RssKb();
            var disk = cluster.DiskBytes();
            results.AddResources(cluster.Name, rss, disk);
            Console.Error.WriteLine($"kv: run {run + 1} {cluster.Name,-7} RSS KiB (load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}) {string.Join(' ', rss)}; disk {string.Join(' ', disk.Select(d => $"{d.Allocated / 1048576.0:F1}/{d.Apparent / 1048576.0:F1} MiB"))}");
        }
    }

    private static string Line(LoadResult r) =>
        $"{r.OpsPerSecond,8:F0} req/s  p50 {r.P50Ms,7:F2} ms  p99 {r.P99Ms,7:F2} ms  max {r.MaxMs,7:F1} ms  errors {r.Errors}";

    private static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    /// <summary>Every measurement of every run; medians on output.</summary>
    private sealed class Results
    {
        private readonly Dictionary<(string Store, string Metric), List<double>> values = [];

        private void Put(string store, string metric, double v)
        {
            if (!values.TryGetValue((store, metric), out var l)) values[(store, metric)] = l = [];
            l.Add(v);
        }

        public void Add(string store, string phase, LoadResult r)
        {
            Put(store, phase + " ops", r.OpsPerSecond);
            Put(store, phase + " p50", r.P50Ms);
            Put(store, phase + " p99", r.P99Ms);
            Put(store, phase + " errors", r.Errors);
        }

        public void AddResources(string store, IReadOnlyList<long> rssKb, IReadOnlyList<(long Allocated, long Apparent)> disk)
        {
            Put(store, "rss max", rssKb.Max() / 1024.0);
            Put(store, "rss sum", rssKb.Sum() / 1024.0);
            Put(store, "rss min", rssKb.Min() / 1024.0);
            Put(store, "disk alloc", disk.Sum(d => d.Allocated) / 1048576.0 / disk.Count);
            Put(store, "disk apparent", disk.Sum(d => d.Apparent) / 1048576.0 / disk.Count);
        }

        private double Median(string store, string metric)
        {
            if (!values.TryGetValue((store, metric), out var l) || l.Count == 0) return double.NaN;
            var s = l.Order().ToArray();
            return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
        }

        private string All(string store, string metric, string fmt) =>
            values.TryGetValue((store, metric), out var l) ? string.Join(" · ", l.Select(v => v.ToString(fmt, CultureInfo.InvariantCulture))) : "";

        public string Markdown(int runs, double seconds)
        {
            var sb = new StringBuilder();
            var inv = CultureInfo.InvariantCulture;
            sb.AppendLine(inv, $"### kv: 3-member tinyokv vs 3-member etcd (medians of {runs} runs; 256 B values; puts: {string.Join('/', PutOps)} per phase, gets: {seconds:F0} s per phase)");
            sb.AppendLine();
            sb.AppendLine("| Measure | tinyokv | etcd | tinyokv ÷ etcd | tinyokv runs | etcd runs |");
            sb.AppendLine("|---|---:|---:|---:|---|---|");
            void Row(string label, string metric, string fmt, string unit)
            {
                var t = Median("tinyokv", metric);
                var e = Median("etcd", metric);
                sb.AppendLine(inv, $"| {label} | {t.ToString(fmt, inv)}{unit} | {e.ToString(fmt, inv)}{unit} | {(t / e).ToString("F2", inv)}× | {All("tinyokv", metric, fmt)} | {All("etcd", metric, fmt)} |");
            }
            foreach (var c in PutClients)
            {
                Row($"put, {c} client{(c > 1 ? "s" : "")}: req/s", $"put {c} ops", "F0", "");
                Row($"put, {c} client{(c > 1 ? "s" : "")}: p50", $"put {c} p50", "F2", " ms");
                Row($"put, {c} client{(c > 1 ? "s" : "")}: p99", $"put {c} p99", "F2", " ms");
            }
            foreach (var (name, label) in new[] { ("get-l", "linearizable get"), ("get-s", "serializable get") })
            {
                foreach (var c in GetClients)
                {
                    Row($"{label}, {c} clients: req/s", $"{name} {c} ops", "F0", "");
                    Row($"{label}, {c} clients: p99", $"{name} {c} p99", "F2", " ms");
                }
            }
            Row("RSS after the run, largest member", "rss max", "F1", " MiB");
            Row("RSS after the run, smallest member", "rss min", "F1", " MiB");
            Row("RSS after the run, 3 members", "rss sum", "F1", " MiB");
            Row("data dir on disk per member (du)", "disk alloc", "F1", " MiB");
            Row("data dir apparent size per member", "disk apparent", "F1", " MiB");
            var errors = values.Where(kv => kv.Key.Metric.EndsWith(" errors", StringComparison.Ordinal) && kv.Value.Sum() > 0)
                .Select(kv => $"{kv.Key.Store} {kv.Key.Metric.Replace(" errors", "", StringComparison.Ordinal)}: {kv.Value.Sum()}").ToList();
            sb.AppendLine();
            sb.AppendLine(errors.Count == 0 ? "Errors: none." : "Errors (requests that failed): " + string.Join("; ", errors));
            sb.AppendLine();
            sb.AppendLine("| Goal | Result | Met? |");
            sb.AppendLine("|---|---|---|");
            var putRatio = Median("tinyokv", "put 32 ops") / Median("etcd", "put 32 ops");
            var p99Ratio = Median("tinyokv", "put 32 p99") / Median("etcd", "put 32 p99");
            var rssRatio = Median("tinyokv", "rss max") / Median("etcd", "rss max");
            sb.AppendLine(inv, $"| puts/s ≥ 1.5× etcd at 32 clients | {putRatio:F2}× | {(putRatio >= 1.5 ? "yes" : "no")} |");
            sb.AppendLine(inv, $"| put p99 ≤ 0.8× etcd's (32 clients) | {p99Ratio:F2}× | {(p99Ratio <= 0.8 ? "yes" : "no")} |");
            sb.AppendLine(inv, $"| RSS ≤ 0.6× etcd's (largest member, the leader) | {rssRatio:F2}× | {(rssRatio <= 0.6 ? "yes" : "no")} |");
            return sb.ToString();
        }

        /// <summary>The WAL's two memory settings side by side (<c>--wal-compare</c>): shared ÷ private.</summary>
        public string WalMarkdown(int runs)
        {
            var sb = new StringBuilder();
            var inv = CultureInfo.InvariantCulture;
            sb.AppendLine();
            sb.AppendLine(inv, $"### kv: tinyokv's WAL in private memory (default) vs shared mapping (`--wal-memory shared`), same runs (medians of {runs})");
            sb.AppendLine();
            sb.AppendLine("| Measure | private | shared | shared ÷ private | private runs | shared runs |");
            sb.AppendLine("|---|---:|---:|---:|---|---|");
            void Row(string label, string metric, string fmt, string unit)
            {
                var p = Median("tinyokv", metric);
                var s = Median(Shared, metric);
                sb.AppendLine(inv, $"| {label} | {p.ToString(fmt, inv)}{unit} | {s.ToString(fmt, inv)}{unit} | {(s / p).ToString("F2", inv)}× | {All("tinyokv", metric, fmt)} | {All(Shared, metric, fmt)} |");
            }
            foreach (var c in PutClients)
            {
                Row($"put, {c} client{(c > 1 ? "s" : "")}: req/s", $"put {c} ops", "F0", "");
                Row($"put, {c} client{(c > 1 ? "s" : "")}: p99", $"put {c} p99", "F2", " ms");
            }
            Row("RSS after the run, largest member", "rss max", "F1", " MiB");
            Row("RSS after the run, 3 members", "rss sum", "F1", " MiB");
            Row("data dir on disk per member (du)", "disk alloc", "F1", " MiB");
            return sb.ToString();
        }
    }
}
