using System.Globalization;
using System.Net;
using System.Text;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;

namespace Tinyo.Node.Network;

/// <summary>
/// Address management for cluster networks, kept in tinyokv so it survives node restarts and is shared by every
/// node. Uniqueness comes from the KV, not from this process: every subnet and every address is a key of its own,
/// created by a transaction that succeeds only if that key (and the owner's index key) does not exist yet. Two
/// allocators racing for the same address both compute it, one transaction wins, the other re-reads and takes the
/// next; so no two clusters and no two replicas ever hold the same address, whichever process or node allocates.
/// <list type="table">
/// <item><term>/tinyo/ipam/subnets/HEX</term><description>"10.88.3.0/24 NODE CLUSTER" — a subnet taken (HEX: the base address, 8 hex digits, so a
/// subnet's keys sort by address)</description></item>
/// <item><term>/tinyo/ipam/clusters/NODE/CLUSTER</term><description>"10.88.3.0/24" — the cluster's subnet on NODE</description></item>
/// <item><term>/tinyo/ipam/addrs/HEX</term><description>"10.88.3.7 NODE CLUSTER REPLICA" — an address leased</description></item>
/// <item><term>/tinyo/ipam/replicas/NODE/CLUSTER/REPLICA</term><description>"10.88.3.7" — the replica's address</description></item>
/// </list>
/// A lease also rewrites its cluster's key in the same transaction, guarded by that key's mod revision, so releasing
/// a subnet (which checks that no lease is left under the same guard) cannot interleave with a new lease in it.
/// </summary>
public sealed class Ipam
{
    /// <summary>Prefix of every IPAM key.</summary>
    public const string Root = "/tinyo/ipam/";

    private readonly KvClient kv;
    private readonly string node;
    private readonly bool given;
    private readonly int maxAttempts;
    private readonly Func<Ipv4Subnet, string?>? inUseOnHost;
    private Ipv4Subnet pool;
    private int subnetPrefix;
    private volatile bool settled;

    /// <summary>IPAM for <paramref name="node"/>; the options are checked here (a bad pool is a clear error).</summary>
    public Ipam(KvClient kv, string node, IpamOptions? options = null)
    {
        options ??= new IpamOptions();
        this.kv = kv;
        this.node = CheckName(node, "node");
        try
        {
            pool = SubnetPool.Check(options.Pool, options.SubnetPrefix);
        }
        catch (NodeException e)
        {
            throw new NodeException("ipam: " + e.Message, e);
        }
        subnetPrefix = options.SubnetPrefix;
        given = options.Given;
        maxAttempts = Math.Max(1, options.MaxAttempts);
        inUseOnHost = options.InUseOnHost;
    }

    /// <summary>The pool (the cluster's stored one once an allocation has settled it).</summary>
    public Ipv4Subnet Pool => pool;

    /// <summary>Prefix length of a cluster's subnet on this node (the cluster's stored one once settled).</summary>
    public int SubnetPrefix => subnetPrefix;

    /// <summary>Takes the cluster's pool and prefix from the KV, or stores this node's (<see cref="SubnetPool"/>).</summary>
    public async Task SettleAsync(CancellationToken ct = default)
    {
        if (settled) return;
        try
        {
            (pool, subnetPrefix) = await SubnetPool.SettleAsync(kv, pool, subnetPrefix, given, ct).ConfigureAwait(false);
        }
        catch (NodeException e)
        {
            throw new NodeException("ipam: " + e.Message, e);
        }
        settled = true;
    }

    /// <summary>
    /// The subnet of <paramref name="cluster"/> on this node: the existing one, else the lowest free subnet of the
    /// pool. Pool exhausted: a <see cref="NodeException"/> and nothing written.
    /// </summary>
    public async Task<ClusterSubnet> SubnetAsync(string cluster, CancellationToken ct = default)
    {
        CheckName(cluster, "cluster");
        var clusterKey = Key($"clusters/{node}/{cluster}");
        for (int attempt = 0; attempt < maxAttempts; attempt++)
        {
            var existing = await kv.GetAsync(clusterKey, ct: ct).ConfigureAwait(false);
            if (existing is not null) return new ClusterSubnet(cluster, node, Ipv4Subnet.Parse(Text(existing.Value)));
            await SettleAsync(ct).ConfigureAwait(false);
            var taken = await TakenAsync("subnets/", pool.Base, pool.Last, ct).ConfigureAwait(false);
            long step = 1L << (32 - subnetPrefix), count = pool.Size / step;
            Ipv4Subnet? free = null;
            var onHost = new List<string>();
            for (long i = 0; i < count; i++)
            {
                uint b = (uint)(pool.Base + i * step);
                if (taken.Contains(b)) continue;
                var candidate = new Ipv4Subnet(b, subnetPrefix);
                if (inUseOnHost?.Invoke(candidate) is { } user)
                {
                    onHost.Add($"{candidate} ({user})");
                    continue;
                }
                free = candidate;
                break;
            }
            if (free is not { } s)
                throw new NodeException($"ipam: pool {pool} has no free /{subnetPrefix} left for cluster {cluster} on node {node} " +
                                        $"({taken.Count} leased{(onHost.Count > 0 ? $", in use on this host: {string.Join(", ", onHost.Take(4))}{(onHost.Count > 4 ? ", …" : "")}" : "")})");
            var subnetKey = Key("subnets/" + Hex(s.Base));
            var r = await kv.TxnAsync(new TxnRequest(
                [new Compare(subnetKey, CompareTarget.Create, CompareResult.Equal, 0), new Compare(clusterKey, CompareTarget.Create, CompareResult.Equal, 0)],
                [Put(subnetKey, $"{s} {node} {cluster}"), Put(clusterKey, s.ToString())],
                []), ct).ConfigureAwait(false);
            if (r.Succeeded) return new ClusterSubnet(cluster, node, s);
        }
        throw new NodeException($"ipam: no subnet for cluster {cluster} after {maxAttempts} attempts (too many concurrent allocations)");
    }

    /// <summary>
    /// The address of <paramref name="replica"/> in <paramref name="cluster"/>: the existing lease (idempotent: a
    /// restarted node gets the same address), else the lowest free address of the cluster's subnet (made first if
    /// needed). Subnet full: a <see cref="NodeException"/> and nothing written.
    /// </summary>
    public async Task<ReplicaLease> LeaseAsync(string cluster, string replica, CancellationToken ct = default)
    {
        CheckName(replica, "replica");
        var subnet = await SubnetAsync(cluster, ct).ConfigureAwait(false);
        var s = subnet.Subnet;
        var clusterKey = Key($"clusters/{node}/{cluster}");
        var replicaKey = Key($"replicas/{node}/{cluster}/{replica}");
        for (int attempt = 0; attempt < maxAttempts; attempt++)
        {
            var existing = await kv.GetAsync(replicaKey, ct: ct).ConfigureAwait(false);
            if (existing is not null) return new ReplicaLease(cluster, replica, IPAddress.Parse(Text(existing.Value)), subnet);
            var guard = await kv.GetAsync(clusterKey, ct: ct).ConfigureAwait(false)
                ?? throw new NodeException($"ipam: the subnet of cluster {cluster} was released while leasing an address for {replica}");
            var taken = await TakenAsync("addrs/", s.Base, s.Last, ct).ConfigureAwait(false);
            uint? free = null;
            for (uint a = s.Base + 2; a < s.Last; a++) // .1: the gateway; the last: broadcast
                if (!taken.Contains(a))
                {
                    free = a;
                    break;
                }
            if (free is not { } addr)
                throw new NodeException($"ipam: subnet {s} of cluster {cluster} is full ({s.Size - 3} addresses leased); no address for {replica}");
            var addrKey = Key("addrs/" + Hex(addr));
            var ip = Ipv4Subnet.Format(addr);
            var r = await kv.TxnAsync(new TxnRequest(
                [
                    new Compare(addrKey, CompareTarget.Create, CompareResult.Equal, 0),
                    new Compare(replicaKey, CompareTarget.Create, CompareResult.Equal, 0),
                    new Compare(clusterKey, CompareTarget.Mod, CompareResult.Equal, guard.ModRevision),
                ],
                [Put(addrKey, $"{ip} {node} {cluster} {replica}"), Put(replicaKey, ip), new TxnOp(Put: new PutRequest(clusterKey, guard.Value))],
                []), ct).ConfigureAwait(false);
            if (r.Succeeded) return new ReplicaLease(cluster, replica, Ipv4Subnet.ToAddress(addr), subnet);
        }
        throw new NodeException($"ipam: no address for {replica} in cluster {cluster} after {maxAttempts} attempts (too many concurrent allocations)");
    }

    /// <summary>Releases a replica's address; false when it had none.</summary>
    public async Task<bool> ReleaseAsync(string cluster, string replica, CancellationToken ct = default)
    {
        CheckName(cluster, "cluster");
        CheckName(replica, "replica");
        var replicaKey = Key($"replicas/{node}/{cluster}/{replica}");
        for (int attempt = 0; attempt < maxAttempts; attempt++)
        {
            var existing = await kv.GetAsync(replicaKey, ct: ct).ConfigureAwait(false);
            if (existing is null) return false;
            var addrKey = Key("addrs/" + Hex(Ipv4Subnet.ToUInt(IPAddress.Parse(Text(existing.Value)))));
            var r = await kv.TxnAsync(new TxnRequest(
                [new Compare(replicaKey, CompareTarget.Mod, CompareResult.Equal, existing.ModRevision)],
                [new TxnOp(Delete: new DeleteRangeRequest(replicaKey)), new TxnOp(Delete: new DeleteRangeRequest(addrKey))],
                []), ct).ConfigureAwait(false);
            if (r.Succeeded) return true;
        }
        throw new NodeException($"ipam: could not release the address of {replica} in cluster {cluster}");
    }

    /// <summary>
    /// Releases the subnet of <paramref name="cluster"/> on this node; refused while any replica still holds an
    /// address in it. False when it had none.
    /// </summary>
    public async Task<bool> ReleaseSubnetAsync(string cluster, CancellationToken ct = default)
    {
        CheckName(cluster, "cluster");
        var clusterKey = Key($"clusters/{node}/{cluster}");
        for (int attempt = 0; attempt < maxAttempts; attempt++)
        {
            var existing = await kv.GetAsync(clusterKey, ct: ct).ConfigureAwait(false);
            if (existing is null) return false;
            var leases = await LeasesAsync(cluster, ct).ConfigureAwait(false);
            if (leases.Count > 0)
                throw new NodeException($"ipam: cluster {cluster} still has {leases.Count} address(es) leased ({string.Join(", ", leases.Take(3).Select(l => l.Replica))}{(leases.Count > 3 ? ", ..." : "")})");
            var s = Ipv4Subnet.Parse(Text(existing.Value));
            var r = await kv.TxnAsync(new TxnRequest(
                [new Compare(clusterKey, CompareTarget.Mod, CompareResult.Equal, existing.ModRevision)],
                [new TxnOp(Delete: new DeleteRangeRequest(clusterKey)), new TxnOp(Delete: new DeleteRangeRequest(Key("subnets/" + Hex(s.Base))))],
                []), ct).ConfigureAwait(false);
            if (r.Succeeded) return true;
        }
        throw new NodeException($"ipam: could not release the subnet of cluster {cluster}");
    }

    /// <summary>Every address leased in <paramref name="cluster"/> on this node, by replica name.</summary>
    public async Task<List<ReplicaLease>> LeasesAsync(string cluster, CancellationToken ct = default)
    {
        CheckName(cluster, "cluster");
        var existing = await kv.GetAsync(Key($"clusters/{node}/{cluster}"), ct: ct).ConfigureAwait(false);
        if (existing is null) return [];
        var subnet = new ClusterSubnet(cluster, node, Ipv4Subnet.Parse(Text(existing.Value)));
        var prefixText = Root + $"replicas/{node}/{cluster}/";
        var prefix = Encoding.UTF8.GetBytes(prefixText);
        var resp = await kv.RangeAsync(new RangeRequest(prefix, RangeRequest.PrefixEnd(prefix)), ct).ConfigureAwait(false);
        var list = new List<ReplicaLease>(resp.Kvs.Count);
        foreach (var x in resp.Kvs)
            list.Add(new ReplicaLease(cluster, Text(x.Key)[prefixText.Length..], IPAddress.Parse(Text(x.Value)), subnet));
        return list;
    }

    /// <summary>Every cluster subnet this node holds (what a restarted node re-makes bridges for, or removes).</summary>
    public async Task<List<ClusterSubnet>> ClustersAsync(CancellationToken ct = default)
    {
        var prefixText = Root + $"clusters/{node}/";
        var prefix = Encoding.UTF8.GetBytes(prefixText);
        var resp = await kv.RangeAsync(new RangeRequest(prefix, RangeRequest.PrefixEnd(prefix)), ct).ConfigureAwait(false);
        var list = new List<ClusterSubnet>(resp.Kvs.Count);
        foreach (var x in resp.Kvs)
            list.Add(new ClusterSubnet(Text(x.Key)[prefixText.Length..], node, Ipv4Subnet.Parse(Text(x.Value))));
        return list;
    }

    /// <summary>Addresses (host order) of the keys under <paramref name="dir"/> between two addresses.</summary>
    private async Task<HashSet<uint>> TakenAsync(string dir, uint first, uint last, CancellationToken ct)
    {
        var from = Key(dir + Hex(first));
        var to = last == uint.MaxValue ? RangeRequest.PrefixEnd(Key(dir)) : Key(dir + Hex(last + 1));
        var resp = await kv.RangeAsync(new RangeRequest(from, to, KeysOnly: true), ct).ConfigureAwait(false);
        var set = new HashSet<uint>();
        int skip = Root.Length + dir.Length;
        foreach (var x in resp.Kvs)
            set.Add(uint.Parse(Encoding.ASCII.GetString(x.Key, skip, x.Key.Length - skip), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        return set;
    }

    private static TxnOp Put(byte[] key, string value) => new(Put: new PutRequest(key, Encoding.UTF8.GetBytes(value)));

    private static byte[] Key(string rest) => Encoding.UTF8.GetBytes(Root + rest);

    private static string Hex(uint a) => a.ToString("x8", CultureInfo.InvariantCulture);

    private static string Text(byte[] b) => Encoding.UTF8.GetString(b);

    /// <summary>Names used in keys: 1-63 of [A-Za-z0-9._-], not starting with '.' or '-'.</summary>
    internal static string CheckName(string name, string what)
    {
        bool ok = name.Length is > 0 and <= 63 && name[0] is not ('.' or '-');
        foreach (var c in name) ok &= char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-';
        return ok ? name : throw new NodeException($"ipam: invalid {what} name '{name}' (1-63 letters, digits, '.', '_' or '-')");
    }
}
