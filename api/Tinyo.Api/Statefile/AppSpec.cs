namespace Tinyo.Api.Statefile;

/// <summary>
/// One container's desired state, as a statefile document describes it after validation. Stored as JSON in the
/// KV (<c>/tinyo/apps/NAME</c>) by the node; the reconciler turns it into running containers.
/// </summary>
public sealed class AppSpec
{
    /// <summary>The app's name: DNS-label style, unique in the cluster.</summary>
    public required string Name { get; init; }

    /// <summary>The image reference, e.g. <c>alpine:latest</c>.</summary>
    public required string Image { get; init; }

    /// <summary>Replaces the image's Cmd when set (Compose semantics).</summary>
    public IReadOnlyList<string>? Command { get; init; }

    /// <summary>Replaces the image's Entrypoint when set.</summary>
    public IReadOnlyList<string>? Entrypoint { get; init; }

    /// <summary>Environment variables added to the image's.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    /// <summary>Published ports.</summary>
    public IReadOnlyList<PortSpec> Ports { get; init; } = [];

    /// <summary>Host paths bind-mounted into the container.</summary>
    public IReadOnlyList<MountSpec> Mounts { get; init; } = [];

    /// <summary>Secrets made available to the container.</summary>
    public IReadOnlyList<SecretRef> Secrets { get; init; } = [];

    /// <summary>How many copies run.</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>When an exited container is started again: always, on-failure or never.</summary>
    public string Restart { get; init; } = "always";

    /// <summary>Resource limits, null for none.</summary>
    public ResourceSpec? Resources { get; init; }

    /// <summary>Health check, null for none.</summary>
    public HealthcheckSpec? Healthcheck { get; init; }

    /// <summary>The cluster (net) the app's replicas join (<c>net: NAME</c>); null: the node's first cluster.</summary>
    public string? Net { get; init; }

    /// <summary>
    /// <c>network:</c> — null (the default) puts every replica on its cluster's network (an address, the cluster's
    /// names); <c>none</c> gives each replica loopback only; <c>host</c> shares the node's network namespace.
    /// </summary>
    public string? Network { get; init; }

    /// <summary>Where <c>net:</c>'s value was written (line, column; not stored): the node names it when the
    /// cluster does not exist.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public (long Line, long Column) NetAt { get; init; }

    /// <summary><c>node: NAME</c> — every replica runs on that node (placement); null: any node.</summary>
    public string? Node { get; init; }

    /// <summary><c>nodes: {LABEL: VALUE}</c> — replicas run only on nodes carrying all of these labels (<c>tio ++ --label</c>);
    /// null: any node.</summary>
    public IReadOnlyDictionary<string, string>? NodeLabels { get; init; }

    /// <summary>Where <c>node:</c> (or else <c>nodes:</c>) was written (not stored): the node names it when no node
    /// matches.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public (long Line, long Column) PlacementAt { get; init; }

    /// <summary>
    /// The file name of the Unix socket the app listens on (<c>expose: unix</c>: <c>NAME.sock</c>), which the apps of
    /// its cluster on the node find at <c>/run/tinyo/uds/FILE</c>; null when it exposes none.
    /// </summary>
    public string? UnixSocket { get; init; }

    /// <summary>Shared memory regions the app maps (<c>shm:</c>), each at <c>/dev/shm/NAME</c>; null when none (null,
    /// not empty, so an app without regions serializes — and hashes — as it did before the field existed).</summary>
    public IReadOnlyList<ShmSpec>? Shm { get; init; }

    /// <summary>The app whose stdout becomes this app's stdin (<c>stdin: {from: APP}</c>), or null.</summary>
    public string? StdinFrom { get; init; }
}

/// <summary>A published port: host port → container port.</summary>
public sealed class PortSpec
{
    /// <summary>Port on the host.</summary>
    public int Host { get; init; }

    /// <summary>Port in the container.</summary>
    public int Container { get; init; }

    /// <summary>tcp or udp.</summary>
    public string Protocol { get; init; } = "tcp";

    /// <inheritdoc/>
    public override string ToString() => Host == Container && Protocol == "tcp" ? $"{Host}" : $"{Host}:{Container}{(Protocol == "tcp" ? "" : "/" + Protocol)}";
}

/// <summary>A bind mount from the host.</summary>
public sealed class MountSpec
{
    /// <summary>Absolute host path.</summary>
    public required string Source { get; init; }

    /// <summary>Absolute path in the container.</summary>
    public required string Target { get; init; }

    /// <summary>Mounted read-only.</summary>
    public bool ReadOnly { get; init; }
}

/// <summary>A secret given to the container as the file <c>/run/secrets/NAME</c>, optionally also as a variable.</summary>
public sealed class SecretRef
{
    /// <summary>The secret's name (see <c>tio secret +</c>).</summary>
    public required string Name { get; init; }

    /// <summary>Environment variable that also receives the value, or null.</summary>
    public string? Env { get; init; }

    /// <summary>The file path in the container.</summary>
    public string Target => "/run/secrets/" + Name;
}

/// <summary>Resource limits.</summary>
public sealed class ResourceSpec
{
    /// <summary>Memory limit in bytes, 0 for none.</summary>
    public long MemoryBytes { get; init; }

    /// <summary>CPU limit in cores (0.5 = half a core), 0 for none.</summary>
    public double Cpus { get; init; }

    /// <summary>Maximum number of processes, 0 for none.</summary>
    public int Pids { get; init; }
}

/// <summary>A command run in the container to judge its health.</summary>
public sealed class HealthcheckSpec
{
    /// <summary>The command (a string is run with /bin/sh -c).</summary>
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>Time between checks, milliseconds.</summary>
    public long IntervalMs { get; init; } = 30_000;

    /// <summary>Consecutive failures before the container is unhealthy.</summary>
    public int Retries { get; init; } = 3;
}
