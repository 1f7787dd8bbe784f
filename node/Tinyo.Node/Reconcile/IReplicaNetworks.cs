using System.Net;
using Tinyo.Api.Statefile;

namespace Tinyo.Node.Reconcile;

/// <summary>A replica's place on its cluster's network, prepared before its container is created.</summary>
/// <param name="Cluster">The cluster (net).</param>
/// <param name="NetnsPath">The network namespace file the container joins by path.</param>
/// <param name="Address">The replica's address.</param>
/// <param name="Gateway">The cluster bridge's address: default route and DNS responder.</param>
public sealed record ReplicaAttachment(string Cluster, string NetnsPath, IPAddress Address, IPAddress Gateway);

/// <summary>One replica as the cluster's names see it.</summary>
/// <param name="Index">N of APP-N.</param>
/// <param name="Replica">Its name, APP-N.</param>
/// <param name="Healthy">Running and not failing its healthcheck: the app's name resolves to it.</param>
public readonly record struct ReplicaName(int Index, string Replica, bool Healthy);

/// <summary>
/// What the reconciler needs from cluster networks (<see cref="Network.ClusterNetworks"/>): a replica's network
/// before its container exists and its removal after, the names each cluster's DNS answers, and recovery of what a
/// stopped or killed node left. Called from the reconciler's one loop only. <see cref="NoReplicaNetworks"/>: every
/// replica on loopback only (unit tests with a fake host).
/// </summary>
public interface IReplicaNetworks
{
    /// <summary>
    /// Once per full sync, with the replica containers that exist on this node: re-makes what they miss (after
    /// <c>tio down</c> or a reboot: bridge, namespace, DNS, rules) and removes what nothing uses any more (leases,
    /// namespaces, links left by a kill -9 or by removals while the node was down).
    /// </summary>
    Task RecoverAsync(IReadOnlyCollection<string> existingReplicas, CancellationToken ct);

    /// <summary>
    /// The replica's network, ready to join: its cluster's bridge, an address leased in the KV (the same one again for
    /// the same replica), a namespace with the veth, address and route. Null for <c>network: none|host</c>. Failure: a
    /// <see cref="NodeException"/> naming the cause, and nothing left (no namespace, link or lease).
    /// </summary>
    Task<ReplicaAttachment?> AttachAsync(AppSpec spec, string replica, CancellationToken ct);

    /// <summary>Removes the replica's namespace and veth and releases its address (nothing to do when it has none).</summary>
    Task DetachAsync(string replica, CancellationToken ct);

    /// <summary>The replica's address, or null.</summary>
    IPAddress? AddressOf(string replica);

    /// <summary>The names of <paramref name="app"/> in its cluster's DNS: its replicas and their health.</summary>
    void Publish(string app, IReadOnlyList<ReplicaName> replicas);

    /// <summary>The app is gone: its names leave its cluster's DNS.</summary>
    void Unpublish(string app);

    /// <summary>The node stops (<c>tio down</c>): every namespace, link, DNS responder and rule removed, forwarding
    /// restored; leases stay in the KV so the replicas get the same addresses back.</summary>
    Task StopAsync();
}

/// <summary>No cluster networks: containers get a namespace with loopback only.</summary>
public sealed class NoReplicaNetworks : IReplicaNetworks
{
    /// <inheritdoc/>
    public Task RecoverAsync(IReadOnlyCollection<string> existingReplicas, CancellationToken ct) => Task.CompletedTask;

    /// <inheritdoc/>
    public Task<ReplicaAttachment?> AttachAsync(AppSpec spec, string replica, CancellationToken ct) => Task.FromResult<ReplicaAttachment?>(null);

    /// <inheritdoc/>
    public Task DetachAsync(string replica, CancellationToken ct) => Task.CompletedTask;

    /// <inheritdoc/>
    public IPAddress? AddressOf(string replica) => null;

    /// <inheritdoc/>
    public void Publish(string app, IReadOnlyList<ReplicaName> replicas)
    {
    }

    /// <inheritdoc/>
    public void Unpublish(string app)
    {
    }

    /// <inheritdoc/>
    public Task StopAsync() => Task.CompletedTask;
}
