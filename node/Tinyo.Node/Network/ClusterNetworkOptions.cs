using Tinyo.Api;

namespace Tinyo.Node.Network;

/// <summary>Settings of a node's <see cref="ClusterNetworks"/>.</summary>
public sealed class ClusterNetworkOptions
{
    /// <summary>The node's network directory (<c>ROOT/net</c>): replica namespaces under <c>ns/</c>, the saved
    /// forwarding setting. Its full path also names the node's links and nft table, so two nodes on one host (tests)
    /// never share a bridge, a veth or a table.</summary>
    public required string Root { get; init; }

    /// <summary>Addresses (in the KV).</summary>
    public required Ipam Ipam { get; init; }

    /// <summary>The stored net (cluster) of that name, or null when there is none.</summary>
    public required Func<string, CancellationToken, Task<NetInfo?>> Net { get; init; }

    /// <summary>The node's first net (made by <c>tio ++ -net NAME</c>): where apps without <c>net:</c> go.</summary>
    public required Func<CancellationToken, Task<string?>> DefaultNet { get; init; }

    /// <summary>The node's own TCP ports (API, KV clients and peers) no replica may reach; asked whenever the rules are
    /// written (so a KV member that joined later is protected from the next change on).</summary>
    public Func<CancellationToken, Task<IReadOnlyCollection<int>>> NodePorts { get; init; } = _ => Task.FromResult<IReadOnlyCollection<int>>([]);

    /// <summary>Network namespaces kept ready per cluster bridge (<see cref="Rt.Network.ReplicaNetworkPool"/>: a
    /// replica's set-up is then a bind mount and two netlink messages instead of a namespace and a veth made on the
    /// spot); 0: none. Each costs ≈ 320 KiB of kernel memory while it waits, and nothing after a crash (the kernel
    /// frees it with the node's descriptors).</summary>
    public int PoolSize { get; init; } = 4;

    /// <summary>The host's resolv.conf: where names outside the clusters are forwarded.</summary>
    public string ResolvConf { get; init; } = "/etc/resolv.conf";

    /// <summary>Port of the DNS responders (53; another in tests).</summary>
    public int DnsPort { get; init; } = 53;

    /// <summary>Log lines.</summary>
    public Action<string> Log { get; init; } = _ => { };
}
