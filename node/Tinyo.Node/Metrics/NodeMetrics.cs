using Tinyo.Api;
using Tinyo.Kv;
using Tinyo.Node.Store;

namespace Tinyo.Node.Metrics;

/// <summary>What <see cref="NodeMetrics"/> reads from, and how.</summary>
public sealed class NodeMetricsOptions
{
    /// <summary>This node's name: its replicas are those of <c>/tinyo/status/NODE/</c>.</summary>
    public required string Node { get; init; }

    /// <summary>The cluster state: replica status, placement, and the KV member's own status.</summary>
    public required StateStore Store { get; init; }

    /// <summary>A replica container's usage by container id (null: unknown, e.g. gone meanwhile).</summary>
    public required Func<string, Rt.Cgroups.CgroupUsage?> Usage { get; init; }

    /// <summary>The host end of a replica's veth by replica name (null: none).</summary>
    public Func<string, string?> VethOf { get; init; } = _ => null;

    /// <summary>The network devices' byte counters (<see cref="NetDevCounters.Read"/>).</summary>
    public Func<Dictionary<string, (long Rx, long Tx)>> NetDevices { get; init; } = () => NetDevCounters.Read();

    /// <summary>When the node started (uptime).</summary>
    public DateTimeOffset Started { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>The product version (build info).</summary>
    public string Version { get; init; } = "0.0.0";
}

/// <summary>
/// The one collector behind <c>/metrics</c> and <c>GET /v1/stats</c> (<c>tio stats</c>): this node's replicas from
/// its status in the KV, their CPU and memory from their cgroups, their network bytes from the host ends of their
/// veths, and the health of the KV member the node talks to. Reads happen per request (no background sampling);
/// a KV that does not answer leaves the replica families empty and <c>tinyo_kv_up 0</c>, never a failed scrape.
/// </summary>
public sealed class NodeMetrics(NodeMetricsOptions o)
{
    private readonly StateStore store = o.Store;

    /// <summary>The replicas of this node and their usage now (only <paramref name="app"/>'s when given).</summary>
    public async Task<NodeStats> SampleAsync(string? app, CancellationToken ct)
    {
        var statuses = await store.ListAsync(Keys.Status + o.Node + "/", ApiJson.Default.AppStatus, ct).ConfigureAwait(false);
        var net = o.NetDevices();
        var list = new List<ReplicaStats>();
        foreach (var (name, status) in statuses)
        {
            if (app is not null && name != app) continue;
            foreach (var c in status.Containers)
            {
                var usage = c.State == "running" && c.Id is { } id ? o.Usage(id) : null;
                (long Rx, long Tx)? bytes = o.VethOf(c.Name) is { } veth && net.TryGetValue(veth, out var b) ? b : null;
                // The host end's receive is what the replica sent.
                list.Add(new ReplicaStats(status.App, c.Name, c.State, c.Restarts, usage?.CpuNanos, usage?.MemoryBytes, usage?.MemoryLimit,
                    bytes?.Tx, bytes?.Rx));
            }
        }
        list.Sort(static (a, b) => string.CompareOrdinal(a.Replica, b.Replica));
        return new NodeStats(o.Node, DateTimeOffset.UtcNow, list);
    }

    /// <summary>The Prometheus text (format 0.0.4) of everything this node knows, written into <paramref name="output"/>.</summary>
    public async Task WriteAsync(PooledBuffer output, CancellationToken ct)
    {
        NodeStats? stats = null;
        KvHealth? kv = null;
        int? pending = null;
        try
        {
            stats = await SampleAsync(null, ct).ConfigureAwait(false);
            pending = (await new PlacementStore(store).PendingAsync(ct).ConfigureAwait(false)).Sum(static a => a.Value.Count);
            kv = await new KvMemberStore(store).HealthAsync(ct).ConfigureAwait(false);
        }
        catch (KvException)
        {
            // Written as tinyo_kv_up 0; what was read before the failure is still written.
        }
        var w = new MetricsText(output);
        w.Family("tinyo_build_info", MetricType.Gauge, "Tinyo's version on this node (always 1).");
        w.Sample([new("version", o.Version), new("node", o.Node)], 1);
        w.Family("tinyo_node_uptime_seconds", MetricType.Gauge, "Seconds since this node's daemon started.");
        w.Sample((DateTimeOffset.UtcNow - o.Started).TotalSeconds);
        w.Family("tinyo_kv_up", MetricType.Gauge, "Whether the node could read the KV for this scrape (1) or not (0).");
        w.Sample(kv is null ? 0 : 1);
        if (stats is not null) WriteReplicas(w, stats);
        if (pending is { } p)
        {
            w.Family("tinyo_cluster_replicas_pending", MetricType.Gauge, "Replicas of the whole cluster that placement could not put on any node.");
            w.Sample(p);
        }
        if (kv is not null) WriteKv(w, kv);
    }

    private static void WriteReplicas(MetricsText w, NodeStats stats)
    {
        var byState = new SortedDictionary<string, int>(StringComparer.Ordinal) { ["running"] = 0 };
        foreach (var r in stats.Replicas) byState[r.State] = byState.GetValueOrDefault(r.State) + 1;
        w.Family("tinyo_node_replicas", MetricType.Gauge, "Replicas on this node by state.");
        foreach (var (state, n) in byState) w.Sample([new("state", state)], n);

        w.Family("tinyo_container_state", MetricType.Gauge, "A replica's state (the label; always 1).");
        foreach (var r in stats.Replicas) w.Sample([new("app", r.App), new("replica", r.Replica), new("state", r.State)], 1);
        w.Family("tinyo_container_restarts_total", MetricType.Counter, "How often the node restarted a replica.");
        foreach (var r in stats.Replicas) w.Sample([new("app", r.App), new("replica", r.Replica)], r.Restarts);
        w.Family("tinyo_container_cpu_seconds_total", MetricType.Counter, "CPU time of a running replica (user and system), seconds.");
        foreach (var r in stats.Replicas)
            if (r.CpuNanos is { } cpu) w.Sample([new("app", r.App), new("replica", r.Replica)], cpu / 1e9);
        w.Family("tinyo_container_memory_bytes", MetricType.Gauge, "Memory a running replica uses, without page cache the kernel can drop at once.");
        foreach (var r in stats.Replicas)
            if (r.MemoryBytes is { } m) w.Sample([new("app", r.App), new("replica", r.Replica)], m);
        w.Family("tinyo_container_memory_limit_bytes", MetricType.Gauge, "A running replica's memory limit.");
        foreach (var r in stats.Replicas)
            if (r.MemoryLimit is { } l) w.Sample([new("app", r.App), new("replica", r.Replica)], l);
        w.Family("tinyo_container_network_receive_bytes_total", MetricType.Counter, "Bytes a replica received on its cluster network.");
        foreach (var r in stats.Replicas)
            if (r.RxBytes is { } rx) w.Sample([new("app", r.App), new("replica", r.Replica)], rx);
        w.Family("tinyo_container_network_transmit_bytes_total", MetricType.Counter, "Bytes a replica sent on its cluster network.");
        foreach (var r in stats.Replicas)
            if (r.TxBytes is { } tx) w.Sample([new("app", r.App), new("replica", r.Replica)], tx);
    }

    private static void WriteKv(MetricsText w, KvHealth s)
    {
        KeyValuePair<string, string>[] member = [new("member", s.Member)];
        w.Family("tinyo_kv_is_leader", MetricType.Gauge, "Whether the KV member this node talks to is the Raft leader.");
        w.Sample(member, s.IsLeader ? 1 : 0);
        w.Family("tinyo_kv_has_leader", MetricType.Gauge, "Whether that member knows a leader.");
        w.Sample(member, s.HasLeader ? 1 : 0);
        w.Family("tinyo_kv_raft_term", MetricType.Gauge, "The member's Raft term.");
        w.Sample(member, s.Term);
        w.Family("tinyo_kv_raft_commit_index", MetricType.Gauge, "The member's last committed Raft log index.");
        w.Sample(member, s.CommitIndex);
        w.Family("tinyo_kv_raft_applied_index", MetricType.Gauge, "The last Raft log index the member applied to its store.");
        w.Sample(member, s.AppliedIndex);
        w.Family("tinyo_kv_raft_commit_lag", MetricType.Gauge, "Committed Raft entries the member has not applied yet (commit index - applied index).");
        w.Sample(member, Math.Max(0, s.CommitIndex - s.AppliedIndex));
        w.Family("tinyo_kv_leader_changes_total", MetricType.Counter, "How often the member saw the Raft leader change since it started.");
        w.Sample(member, s.LeaderChanges);
        w.Family("tinyo_kv_revision", MetricType.Gauge, "The store's revision on that member.");
        w.Sample(member, s.Revision);
        w.Family("tinyo_kv_keys", MetricType.Gauge, "Keys in the store on that member.");
        w.Sample(member, s.Keys);
    }
}
