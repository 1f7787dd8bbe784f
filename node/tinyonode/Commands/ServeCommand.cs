using System.CommandLine;
using System.Runtime.InteropServices;
using Tinyo.Kv.Protocol;

namespace Tinyo.Node.Cli.Commands;

/// <summary>tinyonode serve: runs the daemon until SIGTERM or SIGINT.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var root = new Option<string>("--root") { Description = "State directory (node key); env TINYO_ROOT", DefaultValueFactory = _ => Env("TINYO_ROOT") ?? "/var/lib/tinyo" };
        var socket = new Option<string>("--socket") { Description = "API unix socket; env TINYO_SOCKET", DefaultValueFactory = _ => Env("TINYO_SOCKET") ?? "/run/tinyo/node.sock" };
        var tcp = new Option<string?>("--listen-tcp") { Description = "Also serve remote clients on ip:port over TLS (bearer tokens required); the certificate is made on first start in ROOT (api.crt, api.key)" };
        var plainTcp = new Option<bool>("--plain-tcp") { Description = "Serve --listen-tcp without TLS (e.g. behind a TLS-terminating proxy); clients then use tcp+plain://" };
        var metricsListen = new Option<string?>("--metrics-listen") { Description = "Also serve GET /metrics (Prometheus text) on ip:port over plain HTTP, and nothing else there; the bearer token is the metrics token (tio metrics token) or a user's" };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "Your own PEM certificate for --listen-tcp (with --tls-key) instead of the node's self-signed one" };
        var tlsKey = new Option<string?>("--tls-key") { Description = "The private key (PEM, mode 0600) of --tls-cert" };
        var kv = new Option<string>("--kv-endpoints") { Description = "tinyokv client addresses, comma-separated; env TINYO_KV_ENDPOINTS", DefaultValueFactory = _ => Env("TINYO_KV_ENDPOINTS") ?? "127.0.0.1:2379" };
        var kvToken = new Option<string?>("--kv-token-file") { Description = "File holding the tinyokv token (default: ROOT/kv.token; env TINYOKV_TOKEN wins)" };
        var kvCa = new Option<string?>("--kv-cacert") { Description = "TLS to tinyokv: CA bundle (PEM) that signs the members' certificates; enables TLS; env TINYO_KV_CACERT", DefaultValueFactory = _ => Env("TINYO_KV_CACERT") };
        var kvCert = new Option<string?>("--kv-cert") { Description = "TLS to tinyokv: this node's client certificate (PEM), for members with --client-cert-auth; env TINYO_KV_CERT", DefaultValueFactory = _ => Env("TINYO_KV_CERT") };
        var kvKey = new Option<string?>("--kv-key") { Description = "TLS to tinyokv: the client certificate's private key (PEM); env TINYO_KV_KEY", DefaultValueFactory = _ => Env("TINYO_KV_KEY") };
        var name = new Option<string>("--name") { Description = "Node name", DefaultValueFactory = _ => Environment.MachineName };
        var pki = new Option<string?>("--pki") { Description = "The node's cluster identity directory (ca.crt, node.crt, node.key; ca.key on the first node: it signs joins)" };
        var address = new Option<string?>("--address") { Description = "The node's cluster address, registered for the other nodes" };
        var labels = new Option<string[]>("--label") { Description = "A node label key=value (repeatable), registered for placement", AllowMultipleArgumentsPerToken = false };
        var ttl = new Option<double>("--token-ttl") { Description = "Login token lifetime, seconds", DefaultValueFactory = _ => 86400 };
        var iters = new Option<int>("--pbkdf2-iterations") { Description = "PBKDF2-SHA256 iterations for new passwords", DefaultValueFactory = _ => Security.Passwords.DefaultIterations };
        var mirrors = new Option<string?>("--registry-mirrors") { Description = "Registry mirrors for docker.io images, comma-separated (http://127.0.0.1:5000); env TINYO_REGISTRY_MIRRORS; the KV key /tinyo/settings/registry.mirrors adds more", DefaultValueFactory = _ => Env("TINYO_REGISTRY_MIRRORS") };
        var offline = new Option<bool>("--offline") { Description = "Pull only from registry mirrors and loopback registries; env TINYO_OFFLINE=1", DefaultValueFactory = _ => Env("TINYO_OFFLINE") is "1" or "true" };
        var grace = new Option<double>("--stop-grace") { Description = "Seconds a container may take to stop after SIGTERM before SIGKILL", DefaultValueFactory = _ => 2 };
        var idleTrim = new Option<double>("--idle-trim") { Description = "Seconds of quiet after work before memory is given back (a full GC, cold code paged out); 0: never", DefaultValueFactory = _ => 10 };
        var netnsPool = new Option<int>("--netns-pool") { Description = "Network namespaces kept ready per cluster bridge (a replica's network set-up is then a bind mount and two netlink messages); 0: none", DefaultValueFactory = _ => 4 };
        var subnetPool = new Option<string?>("--subnet-pool") { Description = $"The pool cluster subnets come from (CIDR; default {Network.IpamOptions.DefaultPool}); the cluster's first node stores it, the others must agree or leave it out" };
        var subnetSize = new Option<int?>("--subnet-size") { Description = $"Prefix length of a cluster's subnet on one node (default {Network.IpamOptions.DefaultSubnetPrefix}: 1021 replicas); stored with --subnet-pool" };
        var cmd = new Command("serve", "Run the node daemon") { root, socket, tcp, metricsListen, plainTcp, tlsCert, tlsKey, kv, kvToken, kvCa, kvCert, kvKey, name, pki, address, labels, ttl, iters, mirrors, offline, grace, idleTrim, netnsPool, subnetPool, subnetSize };
        cmd.SetAction(async (pr, ct) =>
        {
            // Its log may sit on a full disk: lines are dropped and counted there rather than aborting the node.
            Console.SetError(new Tinyo.Linux.DaemonLog(2, "tinyonode"));
            Console.SetOut(new Tinyo.Linux.DaemonLog(1, "tinyonode"));
            try
            {
                var rootDir = pr.GetValue(root)!;
                var token = Env("TINYOKV_TOKEN") ?? ReadToken(pr.GetValue(kvToken) ?? Path.Combine(rootDir, "kv.token"));
                if (pr.GetValue(ttl) is var t && t <= 0) throw new NodeException("--token-ttl must be positive");
                if (pr.GetValue(iters) < 1000) throw new NodeException("--pbkdf2-iterations must be at least 1000");
                if (pr.GetValue(grace) is var g && (g < 0 || g > 300)) throw new NodeException("--stop-grace must be between 0 and 300 seconds");
                if (pr.GetValue(idleTrim) is var trimAfter && !(trimAfter == 0 || trimAfter is >= 1 and <= 86400))
                    throw new NodeException("--idle-trim must be 0 (never) or between 1 and 86400 seconds");
                if (pr.GetValue(netnsPool) is var poolSize && poolSize is < 0 or > 256) throw new NodeException("--netns-pool must be between 0 and 256");
                var ipam = IpamFlags(pr.GetValue(subnetPool), pr.GetValue(subnetSize));
                var kvTls = KvTls(pr.GetValue(kvCa), pr.GetValue(kvCert), pr.GetValue(kvKey));
                var (cert, key, plain) = (pr.GetValue(tlsCert), pr.GetValue(tlsKey), pr.GetValue(plainTcp));
                if ((cert is null) != (key is null)) throw new NodeException("--tls-cert and --tls-key go together");
                if (plain && cert is not null) throw new NodeException("--plain-tcp and --tls-cert contradict each other: choose one");
                if ((plain || cert is not null) && pr.GetValue(tcp) is null) throw new NodeException("--plain-tcp, --tls-cert and --tls-key apply to --listen-tcp, which is not given");
                var mirrorList = Rt.Images.RegistryMirrors.Parse(pr.GetValue(mirrors));
                var (init, seal) = InitBinary();
                var options = new NodeOptions
                {
                    Root = rootDir,
                    Socket = pr.GetValue(socket)!,
                    Tcp = pr.GetValue(tcp) is { } addr ? Endpoints.Parse(addr) : null,
                    PlainTcp = plain,
                    MetricsListen = pr.GetValue(metricsListen) is { } m ? MetricsEndpoint(m) : null,
                    TlsFiles = cert is not null ? (cert, key!) : null,
                    KvEndpoints = Endpoints.ParseList(pr.GetValue(kv)!),
                    KvToken = token,
                    KvTls = kvTls,
                    Name = pr.GetValue(name)!,
                    Pki = pr.GetValue(pki) is { } pkiDir ? new Tinyo.Api.Cluster.ClusterPki(pkiDir) : null,
                    Address = pr.GetValue(address) is { } a ? Cluster.JoinRequests.Address(a).ToString() : null,
                    Labels = ParseLabels(pr.GetValue(labels) ?? []),
                    TokenTtl = TimeSpan.FromSeconds(t),
                    Pbkdf2Iterations = pr.GetValue(iters),
                    RegistryMirrors = mirrorList,
                    Offline = pr.GetValue(offline),
                    InitCommand = init,
                    SealInit = seal,
                    StopGrace = TimeSpan.FromSeconds(g),
                    IdleTrim = TimeSpan.FromSeconds(trimAfter),
                    NetnsPoolSize = poolSize,
                    Ipam = ipam,
                };
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
                using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
                var removed = false;
                await using (var daemon = new NodeDaemon(options))
                {
                    daemon.Start();
                    try
                    {
                        using var either = CancellationTokenSource.CreateLinkedTokenSource(stop.Token, daemon.Removed);
                        await Task.Delay(Timeout.Infinite, either.Token);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                    removed = daemon.Removed.IsCancellationRequested;
                    options.Log(removed ? "stopping: removed from the cluster" : "stopping");
                }
                // Removed from the cluster (tio node - on another node): its KV member goes too, so nothing of it stays.
                if (removed) Cluster.RemovedNode.StopKv(options.Root, options.Log);
                return 0;
            }
            catch (Exception e) when (e is NodeException or Rt.RtException or Kv.KvException or IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
            {
                Console.Error.WriteLine($"tinyonode: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }

    /// <summary>
    /// The command that runs this binary's <c>init</c> verb. NativeAOT (the real tinyonode): its own executable, exec'd
    /// from a sealed copy. A JIT build (tests run <c>dotnet tinyonode.dll</c>): the host and the dll, unsealed (the
    /// dll needs the files beside it).
    /// </summary>
    private static (string[]? Command, bool Seal) InitBinary()
    {
        // Not RuntimeFeature.IsDynamicCodeSupported: the AOT feature switches are in the JIT build's runtimeconfig too.
        var exe = Environment.ProcessPath ?? throw new NodeException("cannot find the tinyonode executable");
        var dll = Path.Combine(AppContext.BaseDirectory, "tinyonode.dll");
        if (!File.Exists(dll)) return (null, true); // NativeAOT: a single file
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet")
        {
            // The apphost beside the dll when there is one (as the rt tests start tinyort's), else the muxer.
            var apphost = Path.Combine(AppContext.BaseDirectory, "tinyonode");
            return (File.Exists(apphost) ? [apphost] : [exe, dll], false);
        }
        return ([exe], false);
    }

    /// <summary>--subnet-pool and --subnet-size, checked now (a bad value stops the node at start, naming the flag).</summary>
    private static Network.IpamOptions IpamFlags(string? pool, int? size)
    {
        var o = new Network.IpamOptions();
        if (pool is not null) o = o with { Pool = pool };
        if (size is { } n) o = o with { SubnetPrefix = n };
        try
        {
            Network.SubnetPool.Check(o.Pool, o.SubnetPrefix);
        }
        catch (NodeException e)
        {
            throw new NodeException($"--subnet-pool {o.Pool} --subnet-size {o.SubnetPrefix}: {e.Message}");
        }
        return o;
    }

    private static System.Net.IPEndPoint MetricsEndpoint(string text)
    {
        try
        {
            return Endpoints.Parse(text);
        }
        catch (Kv.KvException)
        {
            throw new NodeException($"--metrics-listen {text}: expected ip:port (e.g. 127.0.0.1:9464)");
        }
    }

    private static Dictionary<string, string> ParseLabels(string[] given)
    {
        var d = new Dictionary<string, string>();
        foreach (var l in given)
        {
            var eq = l.IndexOf('=');
            if (eq <= 0) throw new NodeException($"--label {l}: expected key=value");
            d[l[..eq]] = l[(eq + 1)..];
        }
        Cluster.JoinRequests.Labels(d);
        return d;
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    /// <summary>
    /// TLS settings when any of the three flags is given (as etcdctl's --cacert --cert --key): each file checked here,
    /// so a typo stops the node at start with the flag named rather than at its first KV request.
    /// </summary>
    private static Kv.Client.KvClientTls? KvTls(string? ca, string? cert, string? key)
    {
        if (ca is null && cert is null && key is null) return null;
        if ((cert is null) != (key is null)) throw new NodeException("--kv-cert and --kv-key go together");
        foreach (var (flag, file) in (ReadOnlySpan<(string, string?)>)[("--kv-cacert", ca), ("--kv-cert", cert), ("--kv-key", key)])
            if (file is not null && !File.Exists(file)) throw new NodeException($"{flag}: {file} does not exist");
        try
        {
            return Kv.Client.KvClientTls.Load(ca, cert, key);
        }
        catch (Kv.KvException e)
        {
            // Load names the file and the reason (unreadable, no PEM certificate, a key that does not match).
            throw new NodeException($"KV TLS (--kv-cacert, --kv-cert, --kv-key): {e.Message}");
        }
    }

    private static string ReadToken(string file)
    {
        if (!File.Exists(file)) throw new NodeException($"no tinyokv token: {file} does not exist (pass --kv-token-file or set TINYOKV_TOKEN)");
        return File.ReadAllText(file).Trim();
    }
}
