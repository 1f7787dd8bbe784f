using System.Net;

namespace Tinyo.Node.Network;

/// <summary>A cluster's subnet on one node: the bridge carries <see cref="Gateway"/>.</summary>
/// <param name="Cluster">Cluster (net) name.</param>
/// <param name="Node">Node name.</param>
/// <param name="Subnet">The subnet.</param>
public sealed record ClusterSubnet(string Cluster, string Node, Ipv4Subnet Subnet)
{
    /// <summary>The first host address: the bridge's, the replicas' default route and DNS server.</summary>
    public IPAddress Gateway => Subnet.At(1);
}

/// <summary>A replica's address.</summary>
/// <param name="Cluster">Cluster name.</param>
/// <param name="Replica">Replica name (APP-N).</param>
/// <param name="Address">Its address.</param>
/// <param name="Subnet">The cluster subnet it lies in (prefix length and gateway for the replica's side).</param>
public sealed record ReplicaLease(string Cluster, string Replica, IPAddress Address, ClusterSubnet Subnet);
