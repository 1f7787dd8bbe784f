using System.Text;
using Tinyo.Kv.Protocol;

namespace Tinyo.Node.Store;

/// <summary>
/// The KV side of the node registry and of joins: liveness keys on leases, the KV's member list, the cluster CA's
/// certificate published once. Raw KV requests stay in Store/ (the placement test enforces it); the registry's policy
/// (when to renew, what "lost" means) is in <c>Cluster/NodeRegistry</c>.
/// </summary>
public sealed class NodeRegistryStore(StateStore store)
{
    /// <summary>Renews a liveness lease; its remaining TTL, ≤ 0 when it is gone.</summary>
    public Task<long> KeepAliveAsync(long lease, CancellationToken ct) => store.Kv.LeaseKeepAliveAsync(lease, ct);

    /// <summary>Writes node <paramref name="name"/>'s liveness key on a new lease of <paramref name="ttl"/>; the lease id.</summary>
    public async Task<long> PutAliveAsync(string name, TimeSpan ttl, CancellationToken ct)
    {
        var (id, _) = await store.Kv.LeaseGrantAsync((long)Math.Ceiling(ttl.TotalSeconds), ct: ct);
        await store.Kv.PutAsync(Keys.Of(ClusterKeys.Alive + name), Encoding.UTF8.GetBytes(DateTimeOffset.UtcNow.ToString("O")), id, ct);
        return id;
    }

    /// <summary>The names of the nodes whose liveness key exists (their lease is current).</summary>
    public async Task<HashSet<string>> AliveAsync(CancellationToken ct)
    {
        var alive = await store.Kv.RangeAsync(new RangeRequest(Keys.Of(ClusterKeys.Alive), RangeRequest.PrefixEnd(Keys.Of(ClusterKeys.Alive)), KeysOnly: true), ct);
        return new HashSet<string>(alive.Kvs.Select(k => Encoding.UTF8.GetString(k.Key)[ClusterKeys.Alive.Length..]));
    }

    /// <summary>Publishes the cluster CA's certificate if none is there yet (the first node); later nodes leave it.</summary>
    public Task PublishCaOnceAsync(string caPem, CancellationToken ct)
    {
        var k = Keys.Of(ClusterKeys.Ca);
        return store.Kv.TxnAsync(new TxnRequest(
            [new Compare(k, CompareTarget.Create, CompareResult.Equal, 0)],
            [new TxnOp(Put: new PutRequest(k, Encoding.UTF8.GetBytes(caPem)))], []), ct);
    }

    /// <summary>Marks node <paramref name="name"/> as removed: it stops its daemons when it sees the mark.</summary>
    public Task MarkRemovedAsync(string name, CancellationToken ct)
        => store.Kv.PutAsync(Keys.Of(ClusterKeys.Removed + name), Encoding.UTF8.GetBytes(DateTimeOffset.UtcNow.ToString("O")), 0, ct);

    /// <summary>True when node <paramref name="name"/> has been removed from the cluster (<see cref="MarkRemovedAsync"/>).</summary>
    public Task<bool> IsRemovedAsync(string name, CancellationToken ct) => store.ExistsAsync(ClusterKeys.Removed + name, ct);

    /// <summary>Ends a liveness lease at once (a node that stops for good: the others need not wait for its expiry).</summary>
    public Task RevokeAsync(long lease, CancellationToken ct) => store.Kv.LeaseRevokeAsync(lease, ct);

    /// <summary>Promotes learner <paramref name="name"/> to a voter (a voter left: the group keeps its size).</summary>
    public Task PromoteAsync(string name, CancellationToken ct) => store.Kv.MemberPromoteAsync(name, ct);

    /// <summary>The KV's members (voters and learners), as a join hands them to the new node.</summary>
    public Task<IReadOnlyList<MemberInfo>> MembersAsync(CancellationToken ct) => store.Kv.MemberListAsync(ct);
}
