using System.Diagnostics;
using Tinyo.Kv;
using Tinyo.Node.Reconcile;
using Tinyo.Node.Store;

namespace Tinyo.Node.Cluster;

/// <summary>
/// Placement on every node, with no leader (issue 14): each node reads the cluster state at one KV revision,
/// computes the same <see cref="PlacementPolicy"/> decision and writes each change as a compare-and-swap on the
/// assignment's mod revision (<see cref="PlacementStore.SwapAsync"/>) — so when several nodes decide at once the
/// first write wins and the others find the key changed, read again and agree. It then tells the reconciler which
/// replicas are this node's (<see cref="IReplicaPlacement"/>) and which apps to converge again.
/// </summary>
/// <remarks>
/// Triggers: any change of apps, node records, liveness keys (a node lost when its lease expires), drain marks or
/// assignments, seen through one watch of <c>/tinyo/</c> (status keys skipped), plus a read every 2 s in case a
/// watch event was missed. Starting, the node clears its own drain mark: a node that was drained by <c>tio down</c>
/// takes replicas again once it runs.
/// <para>Fencing (<paramref name="fence"/>): while this node's lease may have expired (cut off from the KV majority,
/// <see cref="LeaseFence"/>) it owns no replica, so the reconciler stops its copies before the others start theirs;
/// when the fence opens again it owns nothing until it has read the assignments anew (a read begun after the fence
/// opened): the replicas that moved away stay stopped, the ones still assigned here start again.</para>
/// </remarks>
public sealed class Placement(StateStore store, string self, Action<string> log, LeaseFence? fence = null) : IReplicaPlacement, IAsyncDisposable
{
    /// <summary>How often the fence is looked at (its own task: the KV calls may hang while cut off).</summary>
    private static readonly TimeSpan FenceTick = TimeSpan.FromMilliseconds(100);

    private readonly PlacementStore kv = new(store);
    private readonly CancellationTokenSource stop = new();
    private volatile HashSet<ReplicaKey> mine = [];
    private volatile IReadOnlyCollection<string> apps = [];
    private volatile bool known;
    private volatile bool fenced;
    private volatile bool stale;
    private long fenceOpenedAt;
    private readonly Lock gate = new(); // fence transitions against Update's lifting of stale
    private Task? loop;
    private Task? fenceLoop;

    /// <summary>Called (from placement's own task) with an app whose replicas on this node changed.</summary>
    public Action<string>? Changed { get; set; }

    /// <inheritdoc/>
    /// <remarks>A fenced node knows enough: it owns nothing.</remarks>
    public bool Known => known || fenced;

    /// <inheritdoc/>
    public bool Owns(string app, int index) => !fenced && !stale && mine.Contains(new ReplicaKey(app, index));

    /// <summary>True while the fence is closed (this node's lease may have expired): it runs no replica.</summary>
    public bool Fenced => fenced;

    /// <inheritdoc/>
    /// <remarks>Half the fence's margin: the copy is killed before the lease can expire in the KV.</remarks>
    public TimeSpan? FencedStopGrace => fenced && fence is not null ? fence.Margin / 2 : null;

    /// <summary>Starts deciding in the background (the KV may not answer yet: retried).</summary>
    public void Start()
    {
        loop = Task.Run(() => RunAsync(stop.Token));
        if (fence is not null) fenceLoop = Task.Run(() => FenceAsync(fence, stop.Token));
    }

    /// <summary>Closes and opens the fence as the lease's renewals go: closing makes the reconciler stop every
    /// replica here; opening waits for a fresh read of the assignments (<see cref="Update"/>).</summary>
    private async Task FenceAsync(LeaseFence f, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(FenceTick);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                var now = Stopwatch.GetTimestamp();
                var closed = f.IsFenced(now);
                if (closed == fenced) continue;
                lock (gate)
                {
                    if (closed)
                    {
                        stale = true;
                        fenced = true;
                    }
                    else
                    {
                        fenceOpenedAt = now;
                        fenced = false;
                    }
                }
                if (closed)
                {
                    log($"placement: liveness lease ({NodeRegistry.LeaseTtl.TotalSeconds:0.#} s) not renewed; it may expire within "
                        + $"{f.Margin.TotalSeconds:0.0#} s (cut off from the KV majority?): fenced, stopping this node's replicas");
                    foreach (var app in apps) Changed?.Invoke(app);
                }
                else log("placement: liveness lease renewed: fence open; reading the assignments again");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RunAsync(CancellationToken ct)
    {
        var drainCleared = false;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (!drainCleared)
                {
                    await kv.ClearDrainAsync(self, ct).ConfigureAwait(false);
                    drainCleared = true;
                }
                var readAt = Stopwatch.GetTimestamp();
                var state = await kv.ReadAsync(ct).ConfigureAwait(false);
                await DecideAsync(state, ct).ConfigureAwait(false);
                Update(state, readAt);
                using var tick = CancellationTokenSource.CreateLinkedTokenSource(ct);
                tick.CancelAfter(TimeSpan.FromSeconds(2));
                try
                {
                    await foreach (var _ in kv.WatchAsync(state.Revision + 1, tick.Token).ConfigureAwait(false)) break;
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is KvException or IOException or System.Net.Sockets.SocketException or TimeoutException or OperationCanceledException)
            {
                log($"placement: tinyokv unavailable ({e.Message}); retrying");
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(500), ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Writes the decision's changes; a lost compare-and-swap is left to the next round (the winner's
    /// write wakes the watch).</summary>
    private async Task DecideAsync(PlacementState state, CancellationToken ct)
    {
        var current = state.Assignments.ToDictionary(a => a.Key, a => a.Value.Record);
        var sw = Stopwatch.StartNew();
        var changes = PlacementPolicy.Decide(state.Nodes, state.Apps, current);
        var decided = sw.Elapsed;
        foreach (var (key, record) in changes)
        {
            var rev = state.Assignments.TryGetValue(key, out var a) ? a.ModRevision : 0;
            if (!await kv.SwapAsync(key, record, rev, ct).ConfigureAwait(false)) continue;
            var was = current.GetValueOrDefault(key);
            log(record switch
            {
                null => $"placement: {key.App}-{key.Index} unassigned",
                { Node: { } n } => $"placement: {key.App}-{key.Index} → {n}{(was?.Node is { } w ? $" (was on {w})" : "")} (decided in {decided.TotalMilliseconds:0.###} ms)",
                _ => $"placement: {key.App}-{key.Index} pending: {record.Pending}",
            });
        }
    }

    /// <summary>Takes a read's assignments; <paramref name="readAt"/> is when the read began (a read begun before the
    /// fence opened may predate the partition's end and does not lift <see cref="stale"/>).</summary>
    private void Update(PlacementState state, long readAt)
    {
        var next = state.Assignments.Where(a => a.Value.Record.Node == self).Select(a => a.Key).ToHashSet();
        var old = mine;
        var wasKnown = known;
        mine = next;
        apps = [.. state.Apps.Keys];
        known = true;
        var changed = new SortedSet<string>(StringComparer.Ordinal);
        var lifted = false;
        lock (gate)
            if (stale && !fenced && readAt >= fenceOpenedAt)
            {
                stale = false;
                lifted = true;
            }
        if (lifted)
        {
            // Owned nothing while fenced: every app is converged again with what is assigned here now.
            changed.UnionWith(state.Apps.Keys);
            log($"placement: assignments read after the fence opened: {next.Count} replica(s) here");
        }
        if (!wasKnown) changed.UnionWith(state.Apps.Keys);
        foreach (var k in next) if (!old.Contains(k)) changed.Add(k.App);
        foreach (var k in old) if (!next.Contains(k)) changed.Add(k.App);
        foreach (var app in changed) Changed?.Invoke(app);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        if (loop is not null) await loop.ConfigureAwait(false);
        if (fenceLoop is not null) await fenceLoop.ConfigureAwait(false);
        stop.Dispose();
    }
}
