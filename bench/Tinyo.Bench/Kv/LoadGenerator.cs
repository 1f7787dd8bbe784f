using System.Diagnostics;

namespace Tinyo.Bench.Kv;

/// <summary>What one load phase measured.</summary>
public sealed record LoadResult(int Clients, long Ops, long Errors, double Seconds, double P50Ms, double P99Ms, double MaxMs)
{
    public double OpsPerSecond => Ops / Seconds;
}

/// <summary>
/// The one load shape used for both stores: CLIENTS concurrent callers, each issuing its next request as soon as the
/// previous one answered (closed loop), over one shared client (one connection), for a fixed duration or until a
/// fixed number of requests was sent. Keys cycle through a fixed key space; every completed request's latency is
/// recorded (no sampling).
/// </summary>
public static class LoadGenerator
{
    public static async Task<LoadResult> RunAsync(Func<int, CancellationToken, Task> op, int clients, TimeSpan duration, CancellationToken token,
        long maxOps = long.MaxValue)
    {
        var latencies = new List<double>[clients];
        long next = -1, errors = 0;
        var start = Stopwatch.GetTimestamp();
        var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var workers = new Task[clients];
        for (var w = 0; w < clients; w++)
        {
            var mine = latencies[w] = new List<double>(4096);
            workers[w] = Task.Run(async () =>
            {
                long n;
                while (Stopwatch.GetTimestamp() < end && !token.IsCancellationRequested && (n = Interlocked.Increment(ref next)) < maxOps)
                {
                    var i = (int)(n & int.MaxValue);
                    var t0 = Stopwatch.GetTimestamp();
                    try
                    {
                        await op(i, token).ConfigureAwait(false);
                        mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    }
                    catch (Exception) when (!token.IsCancellationRequested)
                    {
                        // Counted, not retried: a store that errors under load shows it in the table.
                        if (Interlocked.Increment(ref errors) > 1000) throw;
                    }
                }
            }, token);
        }
        await Task.WhenAll(workers).ConfigureAwait(false);
        token.ThrowIfCancellationRequested();
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var all = new double[latencies.Sum(l => l.Count)];
        var at = 0;
        foreach (var l in latencies) { l.CopyTo(all, at); at += l.Count; }
        Array.Sort(all);
        double Pct(double p) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(p * all.Length))];
        return new LoadResult(clients, all.Length, errors, seconds, Pct(0.50), Pct(0.99), all.Length == 0 ? double.NaN : all[^1]);
    }
}
