using System.Globalization;
using System.Text;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;

namespace Tinyo.Node.Network;

/// <summary>
/// The cluster's subnet pool and the prefix length of each node's subnet per cluster: checked here (a bad choice is
/// a clear error before anything is made), and stored once in the KV (<see cref="Key"/>, plain text
/// <c>"10.200.0.0/16 22"</c>) by the first node that allocates, so joiners carve from the same pool without being told.
/// </summary>
public static class SubnetPool
{
    /// <summary>Where the cluster's choice is kept.</summary>
    public const string Key = "/tinyo/settings/subnet.pool";

    // Never routable to replicas: "this network", loopback, link-local, multicast and the reserved 240/4 with broadcast.
    private static readonly Ipv4Subnet[] Reserved =
        [new(0x00000000, 8), new(0x7F000000, 8), new(0xA9FE0000, 16), new(0xE0000000, 3)];

    /// <summary>
    /// The pool, checked with its subnet prefix: an IPv4 CIDR without host bits, at most a /8, clear of the
    /// reserved ranges, with a prefix between the pool's own and /30. A <see cref="NodeException"/> names the fault.
    /// </summary>
    public static Ipv4Subnet Check(string pool, int subnetPrefix)
    {
        var p = Ipv4Subnet.Parse(pool);
        if (p.PrefixLength < 8) throw new NodeException($"subnet pool {p} is larger than a /8");
        foreach (var r in Reserved)
            if (Overlap(p, r)) throw new NodeException($"subnet pool {p} overlaps the reserved range {r}");
        if (subnetPrefix < p.PrefixLength || subnetPrefix > 30)
            throw new NodeException($"subnet prefix /{subnetPrefix} does not fit pool {p} (between /{p.PrefixLength} and /30)");
        return p;
    }

    /// <summary>Whether two subnets share an address.</summary>
    public static bool Overlap(Ipv4Subnet a, Ipv4Subnet b)
    {
        var mask = a.PrefixLength < b.PrefixLength ? a.Mask : b.Mask;
        return (a.Base & mask) == (b.Base & mask);
    }

    /// <summary>
    /// The pool and prefix in force: the stored ones, else <paramref name="pool"/> and <paramref name="subnetPrefix"/>
    /// stored now (a create-only transaction: of two first nodes racing, both end with the winner's). When the stored
    /// choice differs from a <paramref name="given"/> one, a <see cref="NodeException"/> names both.
    /// </summary>
    public static async Task<(Ipv4Subnet Pool, int SubnetPrefix)> SettleAsync(KvClient kv, Ipv4Subnet pool, int subnetPrefix, bool given, CancellationToken ct)
    {
        var key = Encoding.UTF8.GetBytes(Key);
        for (int attempt = 0; attempt < 8; attempt++)
        {
            if (await kv.GetAsync(key, ct: ct).ConfigureAwait(false) is { } stored)
            {
                var (sp, sn) = Parse(Encoding.UTF8.GetString(stored.Value));
                if (given && (sp != pool || sn != subnetPrefix))
                    throw new NodeException($"this cluster's subnet pool is {sp} with /{sn} subnets (stored by its first node in {Key}); " +
                                            $"this node was given {pool} with /{subnetPrefix}: leave --subnet-pool and --subnet-size out to use the cluster's");
                return (sp, sn);
            }
            var r = await kv.TxnAsync(new TxnRequest(
                [new Compare(key, CompareTarget.Create, CompareResult.Equal, 0)],
                [new TxnOp(Put: new PutRequest(key, Encoding.UTF8.GetBytes(Format(pool, subnetPrefix))))],
                []), ct).ConfigureAwait(false);
            if (r.Succeeded) return (pool, subnetPrefix);
        }
        throw new NodeException($"could not read or store the cluster's subnet pool ({Key})");
    }

    /// <summary>The stored form: "CIDR PREFIX".</summary>
    public static string Format(Ipv4Subnet pool, int subnetPrefix) => string.Create(CultureInfo.InvariantCulture, $"{pool} {subnetPrefix}");

    /// <summary>Reads the stored form (checked as a flag would be).</summary>
    public static (Ipv4Subnet Pool, int SubnetPrefix) Parse(string text)
    {
        var parts = text.Trim().Split(' ');
        if (parts.Length != 2 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            throw new NodeException($"{Key} holds '{text}', not 'CIDR PREFIX'");
        return (Check(parts[0], n), n);
    }
}
