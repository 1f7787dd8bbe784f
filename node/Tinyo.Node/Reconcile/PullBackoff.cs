using Tinyo.Rt;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// How soon an image whose pull failed may be pulled again: 2 s after the first failure, doubling per consecutive
/// failure, capped at 2 minutes; a success forgets the image. Keyed by the image as the statefile names it, so
/// every app that uses the image waits, and re-applying the app does not start the pull again at once.
/// </summary>
/// <remarks>
/// Without it a pull that filled the disk was retried as soon as space was freed, filled the disk again, and kept
/// the node's one work queue busy so that <c>tio - APP</c> could not get through. The app's own retry timer
/// (<see cref="Backoff"/>) still schedules the next attempt; this decides whether that attempt pulls or fails at
/// once with the last error and the time left. Thread-safe: one instance serves the reconcile loop.
/// </remarks>
public sealed class PullBackoff(TimeProvider? clock = null)
{
    /// <summary>The wait after the first failure.</summary>
    public static readonly TimeSpan Initial = TimeSpan.FromSeconds(2);

    /// <summary>The longest wait.</summary>
    public static readonly TimeSpan Cap = TimeSpan.FromMinutes(2);

    private readonly TimeProvider time = clock ?? TimeProvider.System;
    private readonly Dictionary<string, (int Failures, DateTimeOffset NotBefore, string Error)> failed = new(StringComparer.Ordinal);
    private readonly Lock gate = new();

    /// <summary>How long until <paramref name="image"/> may be pulled again; zero when it may now.</summary>
    public TimeSpan Remaining(string image)
    {
        lock (gate)
        {
            if (!failed.TryGetValue(image, out var f)) return TimeSpan.Zero;
            var left = f.NotBefore - time.GetUtcNow();
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>Consecutive failures recorded for <paramref name="image"/>.</summary>
    public int Failures(string image)
    {
        lock (gate) return failed.TryGetValue(image, out var f) ? f.Failures : 0;
    }

    /// <summary>Records a failed pull of <paramref name="image"/>; returns the wait before the next one.</summary>
    public TimeSpan Failed(string image, string error)
    {
        lock (gate)
        {
            var n = failed.TryGetValue(image, out var f) ? f.Failures + 1 : 1;
            var wait = Delay(n);
            failed[image] = (n, time.GetUtcNow() + wait, error);
            return wait;
        }
    }

    /// <summary>Forgets the failures of <paramref name="image"/> (it was pulled, or is in the store).</summary>
    public void Succeeded(string image)
    {
        lock (gate) failed.Remove(image);
    }

    /// <summary>The wait after <paramref name="failures"/> consecutive failures (≥ 1).</summary>
    public static TimeSpan Delay(int failures)
    {
        var d = Initial * Math.Pow(2, Math.Clamp(failures - 1, 0, 30));
        return d > Cap ? Cap : d;
    }

    /// <summary>
    /// Runs <paramref name="get"/> (find or pull <paramref name="image"/>) unless the image is backing off, in which
    /// case it throws <see cref="RtException"/> with the last error and the time left. A failure is recorded (a
    /// cancellation is not); a success forgets earlier failures.
    /// </summary>
    public async Task<T> RunAsync<T>(string image, Func<CancellationToken, Task<T>> get, CancellationToken ct)
    {
        string? last = null;
        TimeSpan left;
        int n;
        lock (gate)
        {
            left = TimeSpan.Zero;
            n = 0;
            if (failed.TryGetValue(image, out var f))
            {
                left = f.NotBefore - time.GetUtcNow();
                last = f.Error;
                n = f.Failures;
            }
        }
        if (left > TimeSpan.Zero)
            throw new RtException($"{last} (failed {n} time{(n == 1 ? "" : "s")}; next pull in {Math.Ceiling(left.TotalSeconds):0} s)");
        try
        {
            var result = await get(ct).ConfigureAwait(false);
            Succeeded(image);
            return result;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Failed(image, e.Message);
            throw;
        }
    }
}
