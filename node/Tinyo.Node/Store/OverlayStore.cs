using System.Runtime.CompilerServices;
using System.Text;
using Tinyo.Api;
using Tinyo.Api.Cluster;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;

namespace Tinyo.Node.Store;

/// <summary>What the cluster overlay reads from the KV in one go: every node's cluster subnets (IPAM's
/// <c>/tinyo/ipam/clusters/NODE/CLUSTER</c> keys, as text), the live nodes, their records and every node's status.</summary>
/// <param name="Subnets">Key (after <c>/tinyo/ipam/clusters/</c>) and value of each subnet record, untrusted text.</param>
/// <param name="Alive">Names of the nodes whose liveness lease is current.</param>
/// <param name="Nodes">Node records by name.</param>
/// <param name="Status">Each node's app status records (key NODE/APP).</param>
public sealed record OverlaySnapshot(
    IReadOnlyList<(string Key, string Value)> Subnets,
    IReadOnlySet<string> Alive,
    IReadOnlyList<NodeRecord> Nodes,
    IReadOnlyList<(string Key, AppStatus Status)> Status);

/// <summary>
/// The KV side of the cluster overlay (<c>Network/ClusterOverlay</c>): a snapshot of what it needs, and a stream
/// that ticks whenever one of those keys changes (one watch on <c>/tinyo/</c>, filtered here).
/// </summary>
public sealed class OverlayStore(StateStore store)
{
    /// <summary>Where IPAM keeps each node's subnet of each cluster.</summary>
    public const string SubnetPrefix = "/tinyo/ipam/clusters/";

    /// <summary>Reads a snapshot.</summary>
    public async Task<OverlaySnapshot> SnapshotAsync(CancellationToken ct)
    {
        var p = Keys.Of(SubnetPrefix);
        var resp = await store.Kv.RangeAsync(new RangeRequest(p, RangeRequest.PrefixEnd(p)), ct).ConfigureAwait(false);
        var subnets = resp.Kvs.Select(x => (Encoding.UTF8.GetString(x.Key)[SubnetPrefix.Length..], Encoding.UTF8.GetString(x.Value))).ToList();
        var alive = await new NodeRegistryStore(store).AliveAsync(ct).ConfigureAwait(false);
        var nodes = await store.ListAsync(ClusterKeys.Nodes, ClusterJson.Default.NodeRecord, ct).ConfigureAwait(false);
        var status = await store.ListAsync(Keys.Status, ApiJson.Default.AppStatus, ct).ConfigureAwait(false);
        return new OverlaySnapshot(subnets, alive, [.. nodes.Select(n => n.Value)], status);
    }

    /// <summary>
    /// Yields once per KV revision that touched a subnet, a liveness key, a node record or a status record, from
    /// <paramref name="fromRevision"/> on. Ends (or throws <see cref="Kv.KvException"/>) when the watch breaks: the
    /// caller watches again.
    /// </summary>
    public async IAsyncEnumerable<long> ChangesAsync(long fromRevision, [EnumeratorCancellation] CancellationToken ct)
    {
        var p = Keys.Of(Keys.Root);
        await foreach (var frame in store.Kv.WatchAsync(p, RangeRequest.PrefixEnd(p), fromRevision, ct: ct).ConfigureAwait(false))
        {
            foreach (var ev in frame.Events)
            {
                var k = Encoding.UTF8.GetString(ev.Kv.Key);
                if (k.StartsWith(SubnetPrefix, StringComparison.Ordinal) || k.StartsWith(ClusterKeys.Alive, StringComparison.Ordinal)
                    || k.StartsWith(ClusterKeys.Nodes, StringComparison.Ordinal) || k.StartsWith(Keys.Status, StringComparison.Ordinal))
                {
                    yield return ev.Kv.ModRevision;
                    break;
                }
            }
        }
    }

    /// <summary>The KV's current revision.</summary>
    public Task<long> RevisionAsync(CancellationToken ct) => store.RevisionAsync(ct);
}
