using System.Diagnostics;
using System.Text;
using Tinyo.Api;
using Tinyo.Api.Cluster;
using Tinyo.Kv;
using Tinyo.Node.Store;

namespace Tinyo.Node.Cluster;

/// <summary>
/// The node registry in the KV: each node writes its record (<see cref="ClusterKeys.Nodes"/>) and keeps a liveness
/// key (<see cref="ClusterKeys.Alive"/>) on a KV lease of <see cref="LeaseTtl"/> that it renews every third of it.
/// A node whose key is gone is "lost" (crashed, partitioned, or stopped); it is "ready" again as soon as it renews.
/// The lease is the KV's, so every node agrees on who is alive without talking to each other. Each renewal that
/// succeeds is told to <paramref name="fence"/>, which closes when the lease may have expired (a node cut off from
/// the KV majority then stops its replicas: <see cref="LeaseFence"/>).
/// </summary>
public sealed class NodeRegistry(StateStore store, NodeRecord self, Action<string> log, LeaseFence? fence = null) : IAsyncDisposable
{
    /// <summary>How long a node stays "ready" without renewing.</summary>
    public static TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(Env("TINYO_NODE_LEASE_TTL") ?? 5);

    private readonly CancellationTokenSource stop = new();
    private Task? loop;
    private long lease;

    /// <summary>Starts registering and renewing in the background (the KV may not answer yet: retried).</summary>
    public void Start() => loop = Task.Run(() => RunAsync(stop.Token));

    /// <summary>True once this node has registered.</summary>
    public bool Registered { get; private set; }

    /// <summary>
    /// Called once when this node finds it was removed from the cluster (<c>tio node - NAME</c> on another node, after
    /// the drain): its liveness is ended already, and the daemon should stop for good.
    /// </summary>
    public Action? Removed { get; set; }

    private async Task RunAsync(CancellationToken ct)
    {
        var renew = LeaseTtl / 3;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var kv = new NodeRegistryStore(store);
                if (await kv.IsRemovedAsync(self.Name, ct))
                {
                    // Never registered again: the remover waits for this node's liveness to go, then takes its KV member.
                    log($"node {self.Name} was removed from the cluster (tio node -): stopping");
                    if (lease != 0) await kv.RevokeAsync(lease, ct);
                    Removed?.Invoke();
                    return;
                }
                // Counted from the moment the request leaves: the KV's clock starts no earlier (LeaseFence).
                var sent = Stopwatch.GetTimestamp();
                var ttl = lease == 0 ? 0 : await kv.KeepAliveAsync(lease, ct);
                if (ttl > 0) fence?.Renewed(sent, TimeSpan.FromSeconds(ttl));
                else await RegisterAsync(ct);
                // A steady cadence from the send times (a slow answer does not push the next renewal back), so a
                // healthy node's fence stays open while answers take less than TTL − margin − period (LeaseFence).
                var wait = renew - Stopwatch.GetElapsedTime(sent);
                if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (KvException e)
            {
                // The lease may have expired while the KV was away: grant a new one at the next round.
                log($"node registry: {e.Message}");
                lease = 0;
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task RegisterAsync(CancellationToken ct)
    {
        var old = await store.GetAsync(ClusterKeys.Nodes + self.Name, ClusterJson.Default.NodeRecord, ct);
        var record = old is null ? self : self with { Joined = old.Joined };
        if (old != record) await store.PutAsync(ClusterKeys.Nodes + self.Name, record, ClusterJson.Default.NodeRecord, ct);
        var sent = Stopwatch.GetTimestamp();
        lease = await new NodeRegistryStore(store).PutAliveAsync(self.Name, LeaseTtl, ct);
        fence?.Renewed(sent, TimeSpan.FromSeconds(Math.Ceiling(LeaseTtl.TotalSeconds)));
        if (!Registered) log($"registered as node {self.Name} ({self.Address}, {self.Cpus} CPUs, {self.MemoryBytes >> 20} MiB), liveness lease {LeaseTtl.TotalSeconds:0}s");
        Registered = true;
    }

    /// <summary>Every registered node with its state and replica count.</summary>
    public static async Task<List<NodeInfo>> ListAsync(StateStore store, CancellationToken ct)
    {
        var nodes = await store.ListAsync(ClusterKeys.Nodes, ClusterJson.Default.NodeRecord, ct);
        var live = await new NodeRegistryStore(store).AliveAsync(ct);
        var status = await store.ListAsync(Keys.Status, ApiJson.Default.AppStatus, ct); // NODE/APP
        var replicas = new Dictionary<string, int>();
        foreach (var (key, s) in status)
        {
            var node = key.Split('/')[0];
            replicas[node] = replicas.GetValueOrDefault(node) + s.Containers.Count(c => c.State is "running" or "starting" or "created");
        }
        return nodes.Select(n => new NodeInfo(n.Value.Name, live.Contains(n.Name) ? "ready" : "lost", n.Value.Address, n.Value.Cpus,
            n.Value.MemoryBytes, replicas.GetValueOrDefault(n.Name), n.Value.Labels, n.Value.Joined)).ToList();
    }

    /// <summary>Publishes the cluster CA's certificate once (the first node); later nodes leave it.</summary>
    public static Task PublishCaAsync(StateStore store, string caPem, CancellationToken ct)
        => new NodeRegistryStore(store).PublishCaOnceAsync(caPem, ct);

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        if (loop is not null) await loop.ConfigureAwait(false);
        stop.Dispose();
    }

    private static int? Env(string name)
        => int.TryParse(Environment.GetEnvironmentVariable(name), out var s) && s is >= 2 and <= 3600 ? s : null;
}
