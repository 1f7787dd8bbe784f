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
/// </remarks>
public sealed class Placement(StateStore store, string self, Action<string> log) : IReplicaPlacement, IAsyncDisposable
{
    private readonly PlacementStore kv = new(store);
    private readonly CancellationTokenSource stop = new();
    private volatile HashSet<ReplicaKey> mine = [];
    private volatile bool known;
    private Task? loop;

    /// <summary>Called (from placement's own task) with an app whose replicas on this node changed.</summary>
    public Action<string>? Changed { get; set; }

    /// <inheritdoc/>
    public bool Known => known;

    /// <inheritdoc/>
    public bool Owns(string app, int index) => mine.Contains(new ReplicaKey(app, index));

    /// <summary>Starts deciding in the background (the KV may not answer yet: retried).</summary>
    public void Start() => loop = Task.Run(() => RunAsync(stop.Token));

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
                var state = await kv.ReadAsync(ct).ConfigureAwait(false);
                await DecideAsync(state, ct).ConfigureAwait(false);
                Update(state);
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

    private void Update(PlacementState state)
    {
        var next = state.Assignments.Where(a => a.Value.Record.Node == self).Select(a => a.Key).ToHashSet();
        var old = mine;
        var wasKnown = known;
        mine = next;
        known = true;
        var apps = new SortedSet<string>(StringComparer.Ordinal);
        if (!wasKnown) apps.UnionWith(state.Apps.Keys);
        foreach (var k in next) if (!old.Contains(k)) apps.Add(k.App);
        foreach (var k in old) if (!next.Contains(k)) apps.Add(k.App);
        foreach (var app in apps) Changed?.Invoke(app);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        if (loop is not null) await loop.ConfigureAwait(false);
        stop.Dispose();
    }
}
