namespace Tinyo.Node.Network;

/// <summary>
/// Where cluster addresses come from: a pool split into subnets of one prefix length, one per cluster per node. The
/// default pool 10.200.0.0/16 is outside what podman and Docker take by default (podman's bridge 10.88.0.0/16 and
/// its first new networks from 10.89.0.0/24 up; Docker's 172.17–31.0.0/16 and 192.168.0.0/16), and outside the
/// common Kubernetes ranges (10.96.0.0/12 services, 10.244.0.0/16 flannel, 10.42/10.43 k3s, 192.168.0.0/16 calico).
/// Its default /22 subnets hold 1021 replicas each (.0 network, .1 the bridge and gateway, the last broadcast), 64 of
/// them across the cluster's nodes and networks; <c>tio ++ --subnet-pool CIDR --subnet-size N</c> chooses others.
/// The first node stores its choice in the KV (<see cref="SubnetPool"/>): every node then carves from the same pool,
/// and a node given a different one refuses to allocate, naming both. Leases made from an earlier pool keep their
/// addresses (nothing is moved).
/// </summary>
public sealed record IpamOptions
{
    /// <summary>The default pool.</summary>
    public const string DefaultPool = "10.200.0.0/16";

    /// <summary>The default prefix length of a cluster's subnet on one node (/22: 1021 replicas).</summary>
    public const int DefaultSubnetPrefix = 22;

    private readonly string pool = DefaultPool;
    private readonly int subnetPrefix = DefaultSubnetPrefix;

    /// <summary>The pool every cluster subnet is carved from. Setting it marks the options <see cref="Given"/>.</summary>
    public string Pool
    {
        get => pool;
        init
        {
            pool = value;
            Given = true;
        }
    }

    /// <summary>Prefix length of one cluster's subnet on one node. Setting it marks the options <see cref="Given"/>.</summary>
    public int SubnetPrefix
    {
        get => subnetPrefix;
        init
        {
            subnetPrefix = value;
            Given = true;
        }
    }

    /// <summary>True when the pool or the prefix was chosen (flags), not defaulted: it must then match the one stored
    /// in the KV, if any; defaults give way to the stored choice.</summary>
    public bool Given { get; private init; }

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
