using System.Net;

namespace Tinyo.Node;

/// <summary>Settings of a node daemon.</summary>
public sealed class NodeOptions
{
    /// <summary>The node's state directory (node key, logs); default /var/lib/tinyo.</summary>
    public required string Root { get; init; }

    /// <summary>The unix socket of the API; default /run/tinyo/node.sock.</summary>
    public required string Socket { get; init; }

    /// <summary>Optional TCP address for remote clients (bearer tokens required), over TLS unless <see cref="PlainTcp"/>.</summary>
    public IPEndPoint? Tcp { get; init; }

    /// <summary>
    /// A plain-HTTP listener for Prometheus (<c>--metrics-listen</c>) that serves <c>GET /metrics</c> only, with the
    /// metrics token (or a user's) as bearer token; null: none (<c>/metrics</c> is still on the API's listeners).
    /// </summary>
    public IPEndPoint? MetricsListen { get; init; }

    /// <summary>Serve <see cref="Tcp"/> without TLS (<c>--plain-tcp</c>): only when asked for, e.g. behind a TLS proxy.</summary>
    public bool PlainTcp { get; init; }

    /// <summary>
    /// The operator's own PEM certificate and key for the TCP listener (<c>--tls-cert</c>, <c>--tls-key</c>); null:
    /// the node's own, made on first start in <see cref="Root"/> (<see cref="Security.ApiCertificate"/>).
    /// </summary>
    public (string Cert, string Key)? TlsFiles { get; init; }

    /// <summary>tinyokv client addresses.</summary>
    public required IReadOnlyList<IPEndPoint> KvEndpoints { get; init; }

    /// <summary>tinyokv cluster token.</summary>
    public required string KvToken { get; init; }

    /// <summary>
    /// TLS to tinyokv's client port (<c>--kv-cacert</c>, <c>--kv-cert</c>, <c>--kv-key</c>); null speaks plain TCP.
    /// </summary>
    public Kv.Client.KvClientTls? KvTls { get; init; }

    /// <summary>
    /// The node's cluster identity (<c>ROOT/pki</c>: CA certificate, this node's certificate and key, and on the first
    /// node the CA key); null for a node set up before clusters, which registers but accepts no joins.
    /// </summary>
    public Tinyo.Api.Cluster.ClusterPki? Pki { get; init; }

    /// <summary>The node's cluster address (<c>--address</c>), registered for other nodes; null: a loopback-only node ("local").</summary>
    public string? Address { get; init; }

    /// <summary>The node's labels (<c>--label key=value</c>), registered for placement.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The node's name (default: the host name).</summary>
    public string Name { get; init; } = Environment.MachineName;

    /// <summary>How long a login token is valid.</summary>
    public TimeSpan TokenTtl { get; init; } = TimeSpan.FromHours(24);

    /// <summary>PBKDF2 iterations for new passwords.</summary>
    public int Pbkdf2Iterations { get; init; } = Security.Passwords.DefaultIterations;

    /// <summary>Registry mirrors for docker.io images (<c>--registry-mirrors</c>, env TINYO_REGISTRY_MIRRORS).</summary>
    public IReadOnlyList<string> RegistryMirrors { get; init; } = [];

    /// <summary>Pull only from registry mirrors and loopback registries (<c>--offline</c>, env TINYO_OFFLINE=1).</summary>
    public bool Offline { get; init; }

    /// <summary>
    /// How container inits are started: this binary with the hidden <c>init</c> verb. Null: the process's own
    /// executable (the NativeAOT tinyonode), sealed. A JIT build (tests) passes <c>dotnet tinyonode.dll</c>.
    /// </summary>
    public string[]? InitCommand { get; init; }

    /// <summary>Exec inits from a sealed copy of the binary (false only for a JIT build, whose dll needs its directory).</summary>
    public bool SealInit { get; init; } = true;

    /// <summary>How long a container may take to stop after SIGTERM before SIGKILL.</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The cap of a container's log file and of its one rotated file (<c>.1</c>), held exactly by the log
    /// relay (Tinyo.Rt's <c>LogRelay</c>); default 10 MiB, so at most 20 MiB per container.</summary>
    public long LogMaxBytes { get; init; } = 10 << 20;

    /// <summary>
    /// Quiet time after work before the daemon gives memory back (<see cref="Tinyo.Linux.IdleTrim"/>: a full GC and its
    /// cold code paged out); zero (the default for an in-process daemon) never trims. tinyonode serve: 10 s.
    /// </summary>
    public TimeSpan IdleTrim { get; init; }

    /// <summary>Network namespaces kept ready per cluster bridge, so a replica's network set-up is the warm path
    /// (<see cref="Network.ClusterNetworkOptions.PoolSize"/>); 0: made on the spot each time.</summary>
    public int NetnsPoolSize { get; init; } = 4;

    /// <summary>Where cluster subnets come from and their size (<c>--subnet-pool</c>, <c>--subnet-size</c>); default
    /// <see cref="Network.IpamOptions"/>' own, which give way to the pool the cluster's first node stored.</summary>
    public Network.IpamOptions Ipam { get; init; } = new();

    /// <summary>Publishes ports for the reconciler (default: the node's own proxy, <see cref="Ports.PortPublisher"/>).</summary>
    public Reconcile.IPortPublisher? Ports { get; init; }

    /// <summary>Where log lines go (stderr by default). Secrets are never passed here.</summary>
    public Action<string> Log { get; init; } = s => Console.Error.WriteLine($"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} tinyonode: {s}");
}
