namespace Tinyo.Node.Store;

/// <summary>
/// The KV keys of the node registry (issue 14), apart from <see cref="Keys"/>:
/// <list type="table">
/// <item><term>/tinyo/cluster/ca</term><description>the cluster CA's certificate (PEM text), written once by the first node</description></item>
/// <item><term>/tinyo/nodes/NAME</term><description><c>NodeRecord</c>: address, API port, CPUs, memory, labels, first registration</description></item>
/// <item><term>/tinyo/alive/NAME</term><description>the node's liveness: the time of registration, attached to a KV lease of
/// <see cref="Cluster.NodeRegistry.LeaseTtl"/> that the node renews; gone (the node is lost) once it stops renewing</description></item>
/// <item><term>/tinyo/removed/NAME</term><description>set by <c>tio node - NAME</c> once the node is drained: the node sees it,
/// stops its daemons, and the remover then takes its KV member and its registry entries (this mark with them)</description></item>
/// </list>
/// </summary>
public static class ClusterKeys
{
    /// <summary>The CA certificate.</summary>
    public const string Ca = "/tinyo/cluster/ca";

    /// <summary>Node records.</summary>
    public const string Nodes = "/tinyo/nodes/";

    /// <summary>Liveness keys.</summary>
    public const string Alive = "/tinyo/alive/";

    /// <summary>Removal marks: the node named must stop.</summary>
    public const string Removed = "/tinyo/removed/";
}
