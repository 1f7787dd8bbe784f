using Tinyo.Rt;
using Tinyo.Rt.Containers;

namespace Tinyo.Node.Reconcile;

/// <summary>Settings of a <see cref="Reconciler"/>.</summary>
public sealed class ReconcilerOptions
{
    /// <summary>This node's name: status goes to <c>/tinyo/status/NODE/APP</c>.</summary>
    public required string Node { get; init; }

    /// <summary>The runtime root of the node's containers and images (<c>ROOT/rt</c>).</summary>
    public required RuntimeRoot Runtime { get; init; }

    /// <summary>How the runtime starts container inits (tinyonode's hidden <c>init</c> verb).</summary>
    public required RuntimeOptions RuntimeOptions { get; init; }

    /// <summary>Where secrets tmpfs mounts live (<c>ROOT/run/secrets</c>).</summary>
    public required string SecretsDir { get; init; }

    /// <summary>Registry mirrors from the command line / environment (the KV key <c>/tinyo/settings/registry.mirrors</c> adds more).</summary>
    public IReadOnlyList<string> RegistryMirrors { get; init; } = [];

    /// <summary>Pull only from the mirrors and loopback registries (<c>--offline</c>, env TINYO_OFFLINE=1).</summary>
    public bool Offline { get; init; }

    /// <summary>How long a container may take to stop after SIGTERM before SIGKILL.</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Publishes ports (the node's proxy); default none.</summary>
    public IPortPublisher Ports { get; init; } = new NoPorts();

    /// <summary>Cluster networks: each replica's namespace, address and names (default none: loopback only).</summary>
    public IReplicaNetworks Networks { get; init; } = new NoReplicaNetworks();

    /// <summary>The direct network's socket directories and shared memory regions (default none: unit tests).</summary>
    public Direct.DirectPaths? DirectPaths { get; init; }

    /// <summary>The clusters' cgroup v2 directories and eBPF socket shortcuts (default none: unit tests; needs
    /// <see cref="DirectPaths"/>, which names each app's cluster).</summary>
    public Direct.ClusterShortcuts? Shortcuts { get; init; }

    /// <summary>The pipes of <c>stdin: {from:}</c> (default none: unit tests).</summary>
    public Direct.ContainerPipes? Pipes { get; init; }

    /// <summary>Which replicas are this node's (issue 14); null: all of them (a node without a cluster address).</summary>
    public IReplicaPlacement? Placement { get; init; }

    /// <summary>Called every 30 s with each container's log file (the size cap); default none.</summary>
    public Action<string>? EnforceLogCap { get; init; }

    /// <summary>Directories no mount source may be in, contain or lead into: the node's state directory and its
    /// socket's directory (a missing source elsewhere is created, as Docker's <c>-v</c> does).</summary>
    public IReadOnlyList<string> ForbiddenMountSources { get; init; } = [];

    /// <summary>Limits every container gets unless its statefile says otherwise.</summary>
    public ContainerDefaults Defaults { get; init; } = ContainerDefaults.Standard;

    /// <summary>Log lines (never secrets).</summary>
    public Action<string> Log { get; init; } = _ => { };
}

/// <summary>
/// Limits a careful operator expects on every container, each overridable per app (<c>resources:</c> in the
/// statefile): enough for ordinary services, small enough that one runaway app (a fork bomb, a leak) cannot take the
/// node down with it.
/// </summary>
/// <param name="MemoryBytes">Memory limit (and memory+swap): 1 GiB.</param>
/// <param name="Pids">Process/thread limit: 4096.</param>
public sealed record ContainerDefaults(long MemoryBytes, long Pids)
{
    /// <summary>1 GiB of memory, 4096 processes.</summary>
    public static readonly ContainerDefaults Standard = new(1L << 30, 4096);
}
