using Tinyo.Kv.Client;
using Tinyo.Node.Api;
using Tinyo.Node.Http;
using Tinyo.Linux;
using Tinyo.Node.Reconcile;
using Tinyo.Node.Security;
using Tinyo.Node.Store;

namespace Tinyo.Node;

/// <summary>
/// The node daemon: opens the node key, connects to tinyokv, serves the API and runs the <see cref="Reconciler"/>
/// (desired state in /tinyo/apps/ → containers through Tinyo.Rt, runtime root <c>ROOT/rt</c>). It is the
/// containers' parent and a child subreaper (PR_SET_CHILD_SUBREAPER), so exits of the processes below it reach it.
/// </summary>
public sealed class NodeDaemon(NodeOptions options) : IAsyncDisposable
{
    private KvClient? kv;
    private HttpServer? server;
    private HttpServer? metricsServer;
    private Reconciler? reconciler;
    private IPortPublisher? ports;
    private IdleTrim? trim;
    private Cluster.NodeRegistry? registry;
    private readonly CancellationTokenSource netFeedStop = new();
    private Task? netFeed;
    private Network.ClusterOverlay? overlay;
    private Cluster.Placement? placement;
    private readonly Cluster.LeaseFence fence = new(Cluster.LeaseFence.MarginFor(Cluster.NodeRegistry.LeaseTtl));
    private System.Security.Cryptography.X509Certificates.X509Certificate2? clusterCa;

    private readonly CancellationTokenSource removed = new();

    /// <summary>Cancelled when this node was removed from its cluster (<c>tio node -</c>): the process should stop for good.</summary>
    public CancellationToken Removed => removed.Token;

    /// <summary>The TCP endpoint actually bound (port 0 resolves), or null.</summary>
    public System.Net.IPEndPoint? TcpEndpoint { get; private set; }

    /// <summary>The metrics-only endpoint actually bound (<c>--metrics-listen</c>; port 0 resolves), or null.</summary>
    public System.Net.IPEndPoint? MetricsEndpoint { get; private set; }

    /// <summary>The TCP listener's TLS certificate, or null (no TCP, or --plain-tcp).</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? TlsCertificate { get; private set; }

    /// <summary>Starts serving.</summary>
    public void Start()
    {
        Directory.CreateDirectory(options.Root);
        var box = SecretBox.Open(Path.Combine(options.Root, "node.key"));
        kv = new KvClient(new KvClientOptions { Endpoints = options.KvEndpoints, Token = options.KvToken, Tls = options.KvTls, RequestTimeout = TimeSpan.FromSeconds(10) });
        ports = options.Ports ?? new Ports.PortPublisher(options.Log);
        var api = new NodeApi(options, new StateStore(kv), box) { Ports = ports };
        if (Libc.Prctl(Libc.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) options.Log($"cannot become a child subreaper: {Libc.Describe(Libc.Errno)}");
        var rtRoot = new Rt.RuntimeRoot(Path.Combine(options.Root, "rt"));
        var store = new StateStore(kv);
        var ipam = new Network.Ipam(kv, options.Name, options.Ipam.InUseOnHost is null ? options.Ipam with { InUseOnHost = Network.HostRoutes.Overlapping } : options.Ipam);
        _ = Task.Run(() => SettleIpamAsync(ipam));
        var networks = new Network.ClusterNetworks(new Network.ClusterNetworkOptions
        {
            Root = Path.Combine(options.Root, "net"),
            Ipam = ipam,
            Net = (name, ct) => store.GetAsync(Keys.Nets + name, Tinyo.Api.ApiJson.Default.NetInfo, ct),
            DefaultNet = ct => new ClusterInit(store).NetAsync(ct),
            NodePorts = new Network.ProtectedPorts(kv, () => [.. options.KvEndpoints.Select(e => e.Port), .. TcpEndpoint is { } t ? [t.Port] : Array.Empty<int>()], options.Log).ReadAsync,
            PoolSize = options.NetnsPoolSize,
            Log = options.Log,
        });
        netFeed = Task.Run(() => new Network.NetSettingsFeed(store, networks, options.Log).RunAsync(netFeedStop.Token));
        // A node with a cluster address places replicas (each runs only its own); one without runs every replica.
        if (options.Address is not null) placement = new Cluster.Placement(store, options.Name, options.Log, fence);
        var rtOptions = new Rt.Containers.RuntimeOptions { InitCommand = options.InitCommand, SealInit = options.SealInit, Warn = options.Log, LogMaxBytes = options.LogMaxBytes };
        reconciler = new Reconciler(new ReconcilerOptions
        {
            Node = options.Name,
            Runtime = rtRoot,
            RuntimeOptions = rtOptions,
            SecretsDir = Path.Combine(options.Root, "run", "secrets"),
            RegistryMirrors = options.RegistryMirrors,
            Offline = options.Offline,
            StopGrace = options.StopGrace,
            Ports = ports,
            Networks = networks,
            DirectPaths = new Direct.DirectPaths(options.Root, ct => new ClusterInit(store).NetAsync(ct), options.Log),
            Pipes = new Direct.ContainerPipes(),
            Shortcuts = new Direct.ClusterShortcuts(options.Root,
                cluster => networks.Present().FirstOrDefault(c => c.Name == cluster) is { } p ? System.Net.IPNetwork.Parse(p.Subnet.ToString()) : null, options.Log),
            Placement = placement,
            ForbiddenMountSources = [options.Root, Path.GetDirectoryName(Path.GetFullPath(options.Socket)) ?? options.Root],
            EnforceLogCap = path => Logs.ContainerLogs.EnforceCap(path, options.LogMaxBytes),
            Log = options.Log,
        }, new StateStore(kv), box);
        reconciler.Start();
        api.Metrics = new Metrics.NodeMetrics(new Metrics.NodeMetricsOptions
        {
            Node = options.Name,
            Store = new StateStore(kv),
            Usage = id =>
            {
                try { return Rt.Containers.ContainerControl.Usage(rtRoot, id); }
                catch (Rt.RtException) { return null; } // removed meanwhile
            },
            VethOf = networks.VethOf,
            Version = NodeApi.Version,
        });
        overlay = Network.OverlaySetup.Start(options, networks, store);
        if (placement is not null)
        {
            placement.Changed = reconciler.Reconverge;
            placement.Start();
        }
        // Containers' logs are relayed by the runtime root's exit monitor (Rt.Processes.LogRelay: capped exactly,
        // back-pressure on the writer); one that died while this node was away is replaced here.
        _ = Task.Run(() =>
        {
            try { new Rt.Containers.ImageContainers(rtRoot, rtOptions).RelayLogs(); }
            catch (Exception e) when (e is Rt.RtException or IOException) { options.Log($"relaying container logs: {e.Message}"); }
        });
        server = new HttpServer(api.HandleAsync, log: options.Log);
        server.ListenUnix(options.Socket);
        if (options.Tcp is { } tcp)
        {
            if (!options.PlainTcp)
            {
                TlsCertificate = options.TlsFiles is var (cert, key) ? ApiCertificate.Load(cert, key) : ApiCertificate.LoadOrCreate(options.Root, options.Name, tcp);
                api.TlsPin = Tinyo.Api.CertificatePin.Of(TlsCertificate);
            }
            // A node of a cluster asks for client certificates: another node forwarding a replica's logs or exec proves
            // itself with the one the cluster CA signed (mutual TLS).
            clusterCa = options.Pki is { Exists: true } p ? p.LoadCa() : null;
            TcpEndpoint = server.ListenTcp(tcp, TlsCertificate, clusterCa);
            api.ApiTcpPort = TcpEndpoint.Port;
        }
        if (options.MetricsListen is { } metricsAt)
        {
            // Plain HTTP, /metrics only, a token still required: what Prometheus scrapes without a TLS set-up.
            metricsServer = new HttpServer(api.HandleMetricsOnlyAsync, log: options.Log) { MaxConnections = 16, MaxConnectionsPerAddress = 8 };
            MetricsEndpoint = metricsServer.ListenTcp(metricsAt);
        }
        StartCluster(api, kv);
        if (options.IdleTrim > TimeSpan.Zero) trim = new IdleTrim(options.IdleTrim, options.Log);
        var tcpNote = TcpEndpoint is null ? "" : TlsCertificate is null ? $" and {TcpEndpoint} (plain TCP: --plain-tcp)" : $" and {TcpEndpoint} (TLS, key {Tinyo.Api.CertificatePin.Of(TlsCertificate)})";
        if (MetricsEndpoint is not null) tcpNote += $", metrics on http://{MetricsEndpoint}/metrics";
        options.Log($"{options.Name} serving on {options.Socket}{tcpNote}, kv {string.Join(',', options.KvEndpoints)}{(options.KvTls is null ? "" : " over TLS")}");
    }

    /// <summary>Settles the subnet pool at start, so a node given another pool than its cluster's says so in its log
    /// at once (its allocations refuse with the same message); a KV that does not answer yet leaves it to the first
    /// allocation.</summary>
    private async Task SettleIpamAsync(Network.Ipam ipam)
    {
        try
        {
            await ipam.SettleAsync().ConfigureAwait(false);
            options.Log($"net: subnet pool {ipam.Pool}, a /{ipam.SubnetPrefix} per cluster on this node");
        }
        catch (NodeException e)
        {
            options.Log(e.Message);
        }
        catch (Kv.KvException)
        {
        }
    }

    /// <summary>
    /// Registers the node in the KV (record + liveness lease), publishes the cluster CA's certificate, and accepts
    /// joins when this node holds the CA key and serves its API over TLS.
    /// </summary>
    private void StartCluster(NodeApi api, KvClient kvClient)
    {
        var store = new StateStore(kvClient);
        registry = new Cluster.NodeRegistry(store, new Tinyo.Api.Cluster.NodeRecord(options.Name, options.Address ?? "local", TcpEndpoint?.Port ?? 0,
            Cluster.NodeCapacity.Cpus, Cluster.NodeCapacity.MemoryBytes, options.Labels, DateTimeOffset.UtcNow), options.Log, fence)
        {
            Removed = () => _ = Task.Run(removed.Cancel), // not inline: the registry loop must end before the daemon is disposed
        };
        registry.Start();
        if (options.Pki is not { Exists: true } pki) return;
        var caPem = File.ReadAllText(pki.CaCert);
        _ = Task.Run(async () =>
        {
            for (var i = 0; i < 60; i++)
            {
                try
                {
                    await Cluster.NodeRegistry.PublishCaAsync(store, caPem, CancellationToken.None);
                    return;
                }
                catch (Kv.KvException)
                {
                    await Task.Delay(1000);
                }
            }
        });
        if (pki.HasCaKey && options.Address is not null && api.TlsPin is { } pin) api.EnableJoins(pki, pin);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (placement is not null) await placement.DisposeAsync();
        if (registry is not null) await registry.DisposeAsync();
        trim?.Dispose();
        await netFeedStop.CancelAsync();
        if (netFeed is not null) await netFeed;
        if (overlay is not null) await overlay.DisposeAsync();
        // Containers first (stopped, not removed: they come back per their restart policy), while the KV still answers.
        if (reconciler is not null) await reconciler.DisposeAsync();
        if (ports is IDisposable d && options.Ports is null) d.Dispose();
        if (metricsServer is not null) await metricsServer.DisposeAsync();
        if (server is not null) await server.DisposeAsync();
        TlsCertificate?.Dispose();
        clusterCa?.Dispose();
        if (kv is not null) await kv.DisposeAsync();
        try
        {
            File.Delete(options.Socket);
        }
        catch (IOException)
        {
        }
    }
}
