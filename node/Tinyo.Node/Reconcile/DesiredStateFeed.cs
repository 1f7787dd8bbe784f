using Tinyo.Api.Statefile;
using Tinyo.Kv;
using Tinyo.Node.Store;

namespace Tinyo.Node.Reconcile;

/// <summary>What the desired state feeds: the reconciler (tests call it directly, without a KV).</summary>
internal interface IDesiredState
{
    /// <summary>The full desired state (after a start or a resync): apps missing from it are removed.</summary>
    Task SyncAllAsync(Dictionary<string, AppSpec> desired);

    /// <summary>An app was put.</summary>
    Task ApplyAsync(string name, AppSpec spec);

    /// <summary>An app was deleted.</summary>
    Task RemoveAppAsync(string name);

    /// <summary>Called on the feed's own thread when an app is deleted, before its removal is queued: a pull in
    /// progress holds the work queue, and the removal must not wait for it (it may never end on a full disk).</summary>
    void CancelPull(string name);
}

/// <summary>
/// Desired state from the KV: a range of <c>/tinyo/apps/</c> gives the full state and a revision; a watch from the
/// next revision delivers every change. When the watch ends (compaction) or tinyokv cannot be reached, it backs off
/// (0.5 s doubling to 10 s) and resyncs with a new range, so a delete missed while the KV was down is not lost.
/// Everything is posted to the reconciler's <see cref="WorkQueue"/>; containers keep running meanwhile.
/// </summary>
internal sealed class DesiredStateFeed(DesiredApps apps, WorkQueue queue, IDesiredState target, Action<string> log)
{
    public async Task RunAsync(CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var (desired, revision) = await apps.ReadAsync(ct).ConfigureAwait(false);
                queue.Post(() => target.SyncAllAsync(desired));
                delay = TimeSpan.FromMilliseconds(500);
                await foreach (var change in apps.WatchAsync(revision + 1, ct).ConfigureAwait(false))
                {
                    if (change.Spec is { } spec) queue.Post(() => target.ApplyAsync(change.Name, spec));
                    else
                    {
                        target.CancelPull(change.Name);
                        queue.Post(() => target.RemoveAppAsync(change.Name));
                    }
                }
                if (ct.IsCancellationRequested) return;
                log("reconcile: the watch of /tinyo/apps/ ended (compacted?); resyncing");
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is KvException or IOException or System.Net.Sockets.SocketException or TimeoutException or OperationCanceledException)
            {
                log($"reconcile: tinyokv unavailable ({e.Message}); retrying in {delay.TotalSeconds:0.#} s");
            }
            try
            {
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }
}
