using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tinyo.Api;
using Tinyo.Api.Cluster;
using Tinyo.Api.Statefile;
using Tinyo.Kv.Protocol;
using Tinyo.Node.Cluster;

namespace Tinyo.Node.Store;

/// <summary>The cluster state placement decides from, all read at one KV revision.</summary>
/// <param name="Revision">The revision every part was read at.</param>
/// <param name="Apps">The desired apps.</param>
/// <param name="Nodes">The registered nodes, with liveness and drain marks.</param>
/// <param name="Assignments">Every replica's assignment, with the mod revision it was read at (for the compare-and-swap).</param>
public sealed record PlacementState(long Revision, Dictionary<string, AppSpec> Apps, List<PlacementNode> Nodes,
    Dictionary<ReplicaKey, (PlacementRecord Record, long ModRevision)> Assignments);

/// <summary>
/// The KV side of placement (issue 14): <c>/tinyo/placement/APP/I</c> (<see cref="PlacementRecord"/>) and
/// <c>/tinyo/drain/NODE</c>. Every write of an assignment is a compare-and-swap on the mod revision the writer
/// read, so of two nodes deciding from the same state at once one wins and the other reads again: a replica is
/// never assigned twice. Policy lives in <c>Cluster/Placement</c> and <c>Cluster/PlacementPolicy</c>.
/// </summary>
public sealed class PlacementStore(StateStore store)
{
    /// <summary>Assignments: <c>/tinyo/placement/APP/INDEX</c>.</summary>
    public const string Prefix = "/tinyo/placement/";

    /// <summary>Drain marks: <c>/tinyo/drain/NODE</c> (the time it was asked).</summary>
    public const string Drain = "/tinyo/drain/";

    /// <summary>Reads apps, nodes, liveness, drain marks and assignments at one revision.</summary>
    public async Task<PlacementState> ReadAsync(CancellationToken ct)
    {
        var apps = await RangeAsync(Keys.Apps, 0, ct).ConfigureAwait(false);
        var rev = apps.Revision;
        var nodes = await RangeAsync(ClusterKeys.Nodes, rev, ct).ConfigureAwait(false);
        var alive = await RangeAsync(ClusterKeys.Alive, rev, ct).ConfigureAwait(false);
        var drain = await RangeAsync(Drain, rev, ct).ConfigureAwait(false);
        var placed = await RangeAsync(Prefix, rev, ct).ConfigureAwait(false);

        var specs = new Dictionary<string, AppSpec>(StringComparer.Ordinal);
        foreach (var kv in apps.Kvs)
            if (Decode(kv.Value, ApiJson.Default.AppRecord) is { Spec: { } s } && s.Name == Name(kv.Key, Keys.Apps)) specs[s.Name] = s;
        var live = alive.Kvs.Select(k => Name(k.Key, ClusterKeys.Alive)).ToHashSet(StringComparer.Ordinal);
        var draining = drain.Kvs.Select(k => Name(k.Key, Drain)).ToHashSet(StringComparer.Ordinal);
        var list = new List<PlacementNode>();
        foreach (var kv in nodes.Kvs)
            if (Decode(kv.Value, ClusterJson.Default.NodeRecord) is { } n)
                list.Add(new PlacementNode(n.Name, n.Cpus, n.MemoryBytes, n.Labels ?? new Dictionary<string, string>(), live.Contains(n.Name), draining.Contains(n.Name)));
        var assignments = new Dictionary<ReplicaKey, (PlacementRecord, long)>();
        foreach (var kv in placed.Kvs)
            if (ParseKey(Name(kv.Key, Prefix)) is { } key && Decode(kv.Value, PlacementJson.Default.PlacementRecord) is { } r)
                assignments[key] = (r, kv.ModRevision);
        return new PlacementState(rev, specs, list, assignments);
    }

    /// <summary>The replicas no node could take, per app: index → reason (what <c>tio ls</c> shows).</summary>
    public async Task<Dictionary<string, Dictionary<int, string>>> PendingAsync(CancellationToken ct)
    {
        var result = new Dictionary<string, Dictionary<int, string>>(StringComparer.Ordinal);
        foreach (var kv in (await RangeAsync(Prefix, 0, ct).ConfigureAwait(false)).Kvs)
            if (ParseKey(Name(kv.Key, Prefix)) is { } key && Decode(kv.Value, PlacementJson.Default.PlacementRecord) is { Pending: { } why })
            {
                if (!result.TryGetValue(key.App, out var d)) result[key.App] = d = [];
                d[key.Index] = why;
            }
        return result;
    }

    /// <summary>One replica's assignment (where it runs, or why it is pending), or null when it has none.</summary>
    public async Task<PlacementRecord?> AssignmentAsync(string app, int index, CancellationToken ct)
    {
        var r = await store.Kv.RangeAsync(new RangeRequest(Keys.Of(Prefix + app + "/" + index.ToString(System.Globalization.CultureInfo.InvariantCulture))), ct).ConfigureAwait(false);
        return r.Kvs.Count > 0 ? Decode(r.Kvs[0].Value, PlacementJson.Default.PlacementRecord) : null;
    }

    /// <summary>
    /// Writes (or, for a null record, deletes) one assignment if it is still at <paramref name="modRevision"/>
    /// (0: absent); false when another node changed it first.
    /// </summary>
    public async Task<bool> SwapAsync(ReplicaKey key, PlacementRecord? record, long modRevision, CancellationToken ct)
    {
        var k = Keys.Of(Prefix + key.App + "/" + key.Index.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var op = record is null
            ? new TxnOp(Delete: new DeleteRangeRequest(k))
            : new TxnOp(Put: new PutRequest(k, JsonSerializer.SerializeToUtf8Bytes(record, PlacementJson.Default.PlacementRecord)));
        var r = await store.Kv.TxnAsync(new TxnRequest([new Compare(k, CompareTarget.Mod, CompareResult.Equal, modRevision)], [op], []), ct).ConfigureAwait(false);
        return r.Succeeded;
    }

    /// <summary>
    /// The keys that changed under <c>/tinyo/</c> after <paramref name="fromRevision"/> - 1 that placement depends on
    /// (apps, nodes, liveness, drain marks, assignments; the frequent status writes are skipped); ends with the watch.
    /// </summary>
    public async IAsyncEnumerable<string> WatchAsync(long fromRevision, [EnumeratorCancellation] CancellationToken ct)
    {
        var p = Keys.Of(Keys.Root);
        await foreach (var frame in store.Kv.WatchAsync(p, RangeRequest.PrefixEnd(p), fromRevision, ct: ct).ConfigureAwait(false))
            foreach (var ev in frame.Events)
            {
                var key = Encoding.UTF8.GetString(ev.Kv.Key);
                if (key.StartsWith(Keys.Apps, StringComparison.Ordinal) || key.StartsWith(ClusterKeys.Nodes, StringComparison.Ordinal)
                    || key.StartsWith(ClusterKeys.Alive, StringComparison.Ordinal) || key.StartsWith(Drain, StringComparison.Ordinal)
                    || key.StartsWith(Prefix, StringComparison.Ordinal))
                    yield return key;
            }
    }

    /// <summary>Marks a node as draining: placement moves its replicas and gives it none.</summary>
    public Task SetDrainAsync(string node, CancellationToken ct)
        => store.Kv.PutAsync(Keys.Of(Drain + node), Encoding.UTF8.GetBytes(DateTimeOffset.UtcNow.ToString("O")), 0, ct);

    /// <summary>Clears a node's drain mark (the node started again).</summary>
    public Task ClearDrainAsync(string node, CancellationToken ct) => store.DeleteAsync(Drain + node, ct);

    /// <summary>Removes a node from the registry: its record, liveness key, status entries, drain and removal marks, in one transaction.</summary>
    public async Task RemoveNodeAsync(string node, CancellationToken ct)
    {
        var status = Keys.Of(Keys.Status + node + "/");
        await store.Kv.TxnAsync(new TxnRequest([],
        [
            new TxnOp(Delete: new DeleteRangeRequest(Keys.Of(ClusterKeys.Nodes + node))),
            new TxnOp(Delete: new DeleteRangeRequest(Keys.Of(ClusterKeys.Alive + node))),
            new TxnOp(Delete: new DeleteRangeRequest(Keys.Of(Drain + node))),
            new TxnOp(Delete: new DeleteRangeRequest(Keys.Of(ClusterKeys.Removed + node))),
            new TxnOp(Delete: new DeleteRangeRequest(status, RangeRequest.PrefixEnd(status))),
        ], []), ct).ConfigureAwait(false);
    }

    /// <summary>Removes a KV member by its peer address (the node's tinyokv); false when no member has it.</summary>
    public async Task<bool> RemoveKvMemberAsync(string host, CancellationToken ct)
    {
        foreach (var m in await store.Kv.MemberListAsync(ct).ConfigureAwait(false))
            if (HostOf(m.PeerAddress) == host)
            {
                await store.Kv.MemberRemoveAsync(m.PeerAddress, ct).ConfigureAwait(false);
                return true;
            }
        return false;
    }

    private static string HostOf(string endpoint)
    {
        var s = endpoint.Contains("://", StringComparison.Ordinal) ? endpoint[(endpoint.IndexOf("://", StringComparison.Ordinal) + 3)..] : endpoint;
        var colon = s.LastIndexOf(':');
        return (colon > 0 ? s[..colon] : s).Trim('[', ']');
    }

    /// <summary>"APP/INDEX" → the key, null for anything else.</summary>
    internal static ReplicaKey? ParseKey(string s)
    {
        var slash = s.IndexOf('/');
        return slash > 0 && int.TryParse(s.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var i) && i > 0
            ? new ReplicaKey(s[..slash], i) : null;
    }

    private Task<RangeResponse> RangeAsync(string prefix, long revision, CancellationToken ct)
    {
        var p = Keys.Of(prefix);
        return store.Kv.RangeAsync(new RangeRequest(p, RangeRequest.PrefixEnd(p), Revision: revision), ct);
    }

    private static string Name(byte[] key, string prefix) => Encoding.UTF8.GetString(key)[prefix.Length..];

    private static T? Decode<T>(byte[] value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(value, info);
        }
        catch (JsonException)
        {
            return null; // one bad record never stops placement
        }
    }
}

/// <summary>Source-generated JSON for placement records.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PlacementRecord))]
internal sealed partial class PlacementJson : JsonSerializerContext;
