namespace Tinyo.Node.Network;

/// <summary>A cluster network present on this node, as the overlay sees it.</summary>
/// <param name="Name">Cluster name.</param>
/// <param name="Bridge">Its bridge.</param>
/// <param name="BridgeIndex">The bridge's ifindex.</param>
/// <param name="Subnet">Its subnet on this node.</param>
/// <param name="Names">Its DNS names (the overlay adds the replicas on other nodes).</param>
public sealed record PresentCluster(string Name, string Bridge, int BridgeIndex, Ipv4Subnet Subnet, DnsNameTable Names);
