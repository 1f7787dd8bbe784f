using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>
/// tinyokv bench put|get: a bounded load generator printing throughput and latency percentiles.
/// (The etcd comparison is bench/Tinyo.Bench's `kv` runner, so no gRPC/HTTP client lands in this binary.)
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var kind = new Argument<string>("operation") { Description = "put or get" };
        kind.AcceptOnlyFromAmong("put", "get");
        var total = new Option<int>("--total") { Description = "Requests to send", DefaultValueFactory = _ => 10_000 };
        var clients = new Option<int>("--clients") { Description = "Concurrent requests", DefaultValueFactory = _ => 16 };
        var connections = new Option<int>("--conns") { Description = "Client connections (requests are pipelined over them)", DefaultValueFactory = _ => 1 };
        var size = new Option<int>("--value-size") { Description = "Value bytes", DefaultValueFactory = _ => 256 };
        var keys = new Option<int>("--key-space") { Description = "Distinct keys", DefaultValueFactory = _ => 10_000 };
        var serializable = new Option<bool>("--serializable") { Description = "Serializable reads (get)" };
        var cmd = new Command("bench", "Measure put/get throughput and latency") { kind, total, clients, connections, size, keys, serializable };
        Common.Run(cmd, async (pr, ct) =>
        {
            var n = Math.Max(1, pr.GetValue(total));
            var c = Math.Max(1, pr.GetValue(clients));
            var value = new byte[pr.GetValue(size)];
            Random.Shared.NextBytes(value);
            var space = Math.Max(1, pr.GetValue(keys));
            var isPut = pr.GetValue(kind) == "put";
            var ser = pr.GetValue(serializable);
            Func<int, byte[], bool, Task> op;
            var disposables = new List<IAsyncDisposable>();
            {
                var pool = Enumerable.Range(0, Math.Max(1, pr.GetValue(connections))).Select(_ => Common.Client(pr)).ToArray();
                disposables.AddRange(pool);
                op = (i, key, put) => put
                    ? pool[i % pool.Length].PutAsync(key, value, ct: ct)
                    : pool[i % pool.Length].GetAsync(key, ser, ct);
            }
            if (!isPut)
            {
                // Reads need keys: fill the key space first (not measured).
                for (var i = 0; i < space; i += c)
                    await Task.WhenAll(Enumerable.Range(i, Math.Min(c, space - i)).Select(j => op(j, Key(j), true)));
            }
            var run = new Run(op, n, space, isPut);
            var sw = Stopwatch.StartNew();
            var workers = new Task[c];
            for (var w = 0; w < c; w++) workers[w] = run.WorkerAsync();
            await Task.WhenAll(workers);
            sw.Stop();
            var latencies = run.Latencies;
            Array.Sort(latencies);
            var p50 = latencies[Math.Min(n - 1, n / 2)];
            var p99 = latencies[Math.Min(n - 1, (int)(0.99 * n))];
            Console.WriteLine($"{pr.GetValue(kind)} {n} requests, {c} concurrent, {value.Length} B values: " +
                              $"{n / sw.Elapsed.TotalSeconds:F0} req/s, p50 {p50:F2} ms, p99 {p99:F2} ms, max {latencies[^1]:F2} ms");
            foreach (var d in disposables) await d.DisposeAsync();
            return 0;
        });
        return cmd;
    }

    private sealed class Run(Func<int, byte[], bool, Task> op, int total, int space, bool isPut)
    {
        private int next = -1;

        public double[] Latencies { get; } = new double[total];

        public async Task WorkerAsync()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < total)
            {
                var key = Key(i % space);
                var t0 = Stopwatch.GetTimestamp();
                await op(i, key, isPut).ConfigureAwait(false);
                Latencies[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
        }
    }

    private static byte[] Key(int i) => Encoding.ASCII.GetBytes($"bench/{i:D8}");
}
