namespace Tinyo.Node.Network;

/// <summary>
/// Where cluster addresses come from. The default pool 10.88.0.0/16 (podman's default bridge range, rarely routed
/// on hosts) is split into /24 subnets, one per cluster per node: 256 cluster networks across the nodes, 253
/// replicas each (.1 is the bridge and gateway, .0 and .255 are the network and broadcast addresses). A larger
/// pool or a shorter subnet prefix (/22: 1021 replicas) is a flag away; a pool is fixed once subnets are leased
/// from it (leases from another pool are not moved).
/// </summary>
public sealed record IpamOptions
{
    /// <summary>The pool every cluster subnet is carved from.</summary>
    public string Pool { get; init; } = "10.88.0.0/16";

    /// <summary>Prefix length of one cluster's subnet on one node.</summary>
    public int SubnetPrefix { get; init; } = 24;

    /// <summary>How often an allocation retries after losing a compare-and-swap race to another allocator.</summary>
    public int MaxAttempts { get; init; } = 64;

    /// <summary>
    /// Whether a subnet is already in use on this host outside Tinyo's leases (a route of another interface — a
    /// podman or Docker bridge, a VPN, a bridge a killed node left): returns what uses it, or null. Such subnets are
    /// skipped when a new one is taken, as Docker skips its default pools' overlaps; a subnet already leased is kept.
    /// Null (the default): nothing is checked.
    /// </summary>
    public Func<Ipv4Subnet, string?>? InUseOnHost { get; init; }
}
