using System.CommandLine;
using Tinyo.Api;
using Tinyo.Ctl.Client;
using Tinyo.Ctl.Setup;
using Tinyo.Api.Statefile;
using Tinyo.Linux;
using Tinyo.Api.Cluster;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>
/// tio ++ (init): starts tinyokv (one member) and tinyonode — as systemd units when systemd is the init system, else
/// as detached, supervised processes (--supervisor overrides) — creates the net and the admin user, and logs this CLI
/// in. Idempotent: a second run reports what is already there. With --addr the node is clusterable (KV and API on that
/// address, mutual TLS with the cluster CA made here); with -ip it joins the cluster of that node (ClusterJoin).
/// </summary>
internal static class InitCommand
{
    public static Command Create()
    {
        var net = new Option<string>("-net", "--net") { Description = "The cluster's name", Required = true };
        var user = new Option<string>("-u", "--user") { Description = "The admin user to create", Required = true };
        var pass = new Option<string?>("-p", "--password") { Description = "The admin's password (else TINYO_PASSWORD or stdin)" };
        var ip = new Option<string?>("-ip", "--ip") { Description = "Join the cluster of the node at this address (IP or IP:PORT; its API port, default 7443)" };
        var addr = new Option<string?>("--addr") { Description = "This node's cluster address (env TINYO_ADDR): the KV and the API listen on it with mutual TLS; default with -ip: the address that routes to it" };
        var nodeName = new Option<string?>("--name") { Description = "This node's name (env TINYO_NODE_NAME; default: the host name)" };
        var labels = new Option<string[]>("--label") { Description = "A node label key=value (repeatable)" };
        var kvPort = new Option<int>("--kv-port") { Description = "tinyokv client port (env TINYO_KV_PORT)", DefaultValueFactory = _ => Port("TINYO_KV_PORT", 2379) };
        var kvPeerPort = new Option<int>("--kv-peer-port") { Description = "tinyokv Raft port (env TINYO_KV_PEER_PORT)", DefaultValueFactory = _ => Port("TINYO_KV_PEER_PORT", 2380) };
        var tcp = new Option<string?>("--listen-tcp") { Description = "Also serve the API on ip:port for remote clients (env TINYO_LISTEN_TCP; with --addr or -ip: ADDR:7443)" };
        var plainTcp = new Option<bool>("--plain-tcp") { Description = "Serve --listen-tcp without TLS (clients use tcp+plain://); TLS is the default" };
        var metrics = new Option<string?>("--metrics-listen") { Description = "Also serve GET /metrics for Prometheus on ip:port, plain HTTP, nothing else there; its bearer token: tio metrics token" };
        var ttl = new Option<int?>("--token-ttl") { Description = "Login token lifetime in seconds (default 86400)" };
        var subnetPool = new Option<string?>("--subnet-pool") { Description = "The pool cluster subnets come from, CIDR (default 10.200.0.0/16); kept by the cluster, joiners leave it out" };
        var subnetSize = new Option<int?>("--subnet-size") { Description = "Prefix length of a cluster's subnet on one node (default 22: 1021 replicas); kept by the cluster" };
        var supervisor = new Option<string?>("--supervisor")
        {
            Description = "How the daemons run: auto (systemd units when systemd is the init system, else detached processes), systemd or process (env TINYO_SUPERVISOR)",
        };
        supervisor.AcceptOnlyFromAmong(ServiceModes.Names);
        var cmd = new Command("++", "Start a node here: tinyokv + tinyonode, the net, the admin user; log in. With -ip: join that node's cluster")
        {
            net, user, pass, ip, addr, nodeName, labels, kvPort, kvPeerPort, tcp, plainTcp, metrics, ttl, supervisor, subnetPool, subnetSize,
        };
        cmd.Aliases.Add("init");
        Common.Run(cmd, async (pr, ct) =>
        {
            if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var netName = pr.GetValue(net)!;
            var userName = pr.GetValue(user)!;
            if (!Statefile.IsValidName(netName)) throw new UsageException($"invalid net name '{netName}': 1-63 of a-z, 0-9 and '-'");
            if (!Statefile.IsValidName(userName)) throw new UsageException($"invalid user name '{userName}': 1-63 of a-z, 0-9 and '-'");
            var name = pr.GetValue(nodeName) ?? Common.Env("TINYO_NODE_NAME") ?? HostNodeName();
            if (!Statefile.IsValidName(name)) throw new UsageException($"invalid node name '{name}': 1-63 of a-z, 0-9 and '-' (pass --name)");
            var labelSet = Labels(pr.GetValue(labels) ?? []);
            var (pool, size) = (pr.GetValue(subnetPool), pr.GetValue(subnetSize));
            CheckSubnets(pool, size);
            var password = Common.Password(pr.GetValue(pass));
            var layout = Common.Layout(pr);
            var mode = ServiceModes.Resolve(pr.GetValue(supervisor) ?? Common.Env("TINYO_SUPERVISOR"))
                       ?? throw new UsageException($"unknown supervisor '{Common.Env("TINYO_SUPERVISOR")}' in TINYO_SUPERVISOR: auto, systemd or process");
            var daemons = Common.Daemons(layout);
            if (mode == ServiceMode.Systemd && !daemons.SystemdRunning)
                throw new UsageException($"--supervisor systemd: systemd is not the init system here (no {ServiceModes.SystemdRunDir}); use auto or process");
            var socket = Common.SocketPath(pr);
            var kvClient = pr.GetValue(kvPort);
            var kvPeer = pr.GetValue(kvPeerPort);
            var pki = new ClusterPki(Path.Combine(layout.Root, "pki"));
            // A node that left its KV group (tio down of a node of a mesh) cannot start that member again: the group forgot it.
            if (File.Exists(new KvMembership(layout).LeftMark))
                throw new UsageException($"this node left its cluster (tio down took its KV member out of the group): its state in {layout.Root} no longer belongs to it; "
                                         + $"remove {layout.Root} and join again with tio ++ -ip ADDR{(pki.HasCaKey ? $" (keep a copy of {pki.CaKey}: it is the cluster CA's key)" : "")}");

            // Where this node is reachable by the others (null: loopback only, a single node).
            var joinTo = pr.GetValue(ip) is { } j ? JoinTarget(j) : null;
            var addrText = pr.GetValue(addr) ?? Common.Env("TINYO_ADDR");
            System.Net.IPAddress? address = null;
            if (addrText is not null && (!System.Net.IPAddress.TryParse(addrText, out address) || System.Net.IPAddress.IsLoopback(address) || address.Equals(System.Net.IPAddress.Any)))
                throw new UsageException($"--addr {addrText}: expected this host's own, non-loopback IP address");
            if (joinTo is not null && address is null) address = ClusterJoin.LocalAddressToward(System.Net.IPAddress.Parse(joinTo.Host));

            // Joining: everything is checked with the other node before this host is touched.
            ClusterJoin.Accepted? joined = null;
            var rootExisted = Directory.Exists(layout.Root);
            if (joinTo is not null && pki.HasCaKey)
                throw new UsageException($"this host already runs a node of its own cluster in {layout.Root} (it holds that cluster's CA): `tio down` and remove {layout.Root} before joining another cluster");
            if (joinTo is not null && !pki.Exists)
            {
                if (Directory.Exists(layout.KvData) || daemons.Find("tinyokv") is not null || daemons.Find("tinyonode") is not null)
                    throw new UsageException($"this host already runs a node in {layout.Root}: `tio down` and remove {layout.KvData} before joining another cluster");
                joined = await ClusterJoin.RunAsync(new ClusterJoin.Ask(joinTo, userName, password, netName, name, address!, labelSet), TestClock(), ct);
                Console.WriteLine($"cluster   CA {joined.CaFingerprint} (verified: the node at {joinTo.Host}:{joinTo.Port} proved it knows {userName}'s password)");
            }
            try
            {
                await StartAsync();
            }
            catch when (joined is not null)
            {
                Undo(daemons, layout, pki, rootExisted, joined, address!, kvPeer);
                throw;
            }
            finally
            {
                joined?.Key.Dispose();
            }
            return Exit.Ok;

            async Task StartAsync()
            {
            Directory.CreateDirectory(layout.Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            if (joined is not null)
            {
                KvToken(layout, joined.Response.KvToken);
                pki.StoreJoined(joined.Response.CaCert, joined.Key, joined.Response.NodeCert);
            }
            else
            {
                KvToken(layout);
                if (!pki.Exists)
                {
                    var fp = pki.CreateFirst(netName, name, address is null ? [] : [address]);
                    Console.WriteLine($"cluster   CA {Common.Green("created")}: {fp} (key {pki.CaKey}, 0600)");
                }
            }
            var clustered = address is not null;
            var kvHost = clustered ? address!.ToString() : "127.0.0.1";
            string[] kvTls = clustered
                ? ["--cert-file", pki.NodeCert, "--key-file", pki.NodeKey, "--trusted-ca-file", pki.CaCert, "--client-cert-auth",
                   "--peer-cert-file", pki.NodeCert, "--peer-key-file", pki.NodeKey, "--peer-trusted-ca-file", pki.CaCert, "--peer-client-cert-auth"]
                : [];
            // Variables tinyonode reads that its unit would not inherit (systemd starts services with a clean
            // environment); detached processes inherit them anyway.
            var passEnv = new Dictionary<string, string>();
            foreach (var envName in (string[])["TINYO_OFFLINE", "TINYO_REGISTRY_MIRRORS", "DOCKER_CONFIG", "TINYO_NODE_LEASE_TTL"])
                if (Common.Env(envName) is { } v) passEnv[envName] = v;

            // 1. tinyokv (the token is read from its 0600 file: never on a command line, in a unit or in the environment)
            var kvCmd = Supervisor.Locate("tinyokv", "TINYO_KV_BIN");
            kvCmd.AddRange(["serve", "--name", name, "--data-dir", layout.KvData, "--token-file", layout.KvToken,
                "--listen-peer", $"{Host(kvHost)}:{kvPeer}", "--listen-client", $"{Host(kvHost)}:{kvClient}", .. kvTls]);
            var others = new List<string>();
            if (joined is not null)
            {
                others.AddRange(joined.Response.KvEndpoints);
                if (joined.Response.Role == "learner") kvCmd.Add("--learner");
                kvCmd.AddRange(["--join", string.Join(',', others)]);
            }
            else kvCmd.Add("--bootstrap");
            var kvSpec = new UnitSpec("tinyokv", Absolute(kvCmd), new Dictionary<string, string>(), [], KeepChildren: false);
            if (daemons.Find("tinyokv") is { } kvRun)
                Report("tinyokv  ", kvRun, daemons.UnitOutdated(kvRun, kvSpec));
            else
            {
                var kv = daemons.Start(mode, kvSpec);
                if (!await Supervisor.WaitTcpAsync(kvHost, kvClient, kv.Pid, TimeSpan.FromSeconds(30)))
                {
                    var tail = daemons.LogTail(kv, "tinyokv");
                    daemons.Stop("tinyokv", TimeSpan.FromSeconds(2));
                    throw new CtlException(StartFailure("tinyokv", daemons.LogPlace(kv, "tinyokv"), layout.Root, tail));
                }
                Console.WriteLine($"tinyokv   {Common.Green("started")} ({kv}, {Host(kvHost)}:{kvClient}{(clustered ? ", mutual TLS" : "")}{(joined is null ? "" : ", " + joined.Response.Role)})");
            }

            // 2. tinyonode
            var client = new NodeClient(new NodeAddress(socket, null)) { Timeout = TimeSpan.FromSeconds(15) };
            var nodeCmd = Supervisor.Locate("tinyonode", "TINYO_NODE_BIN");
            var kvEndpoints = string.Join(',', new[] { $"{Host(kvHost)}:{kvClient}" }.Concat(others.Where(o => o != $"{Host(kvHost)}:{kvClient}")));
            nodeCmd.AddRange(["serve", "--root", layout.Root, "--socket", socket, "--kv-endpoints", kvEndpoints,
                "--kv-token-file", layout.KvToken, "--name", name, "--pki", pki.Dir]);
            foreach (var (k, v) in labelSet) nodeCmd.AddRange(["--label", $"{k}={v}"]);
            if (clustered)
                nodeCmd.AddRange(["--address", kvHost, "--kv-cacert", pki.CaCert, "--kv-cert", pki.NodeCert, "--kv-key", pki.NodeKey]);
            var listen = pr.GetValue(tcp) ?? Common.Env("TINYO_LISTEN_TCP") ?? (clustered ? $"{Host(kvHost)}:{ClusterJoin.DefaultApiPort}" : null);
            if (listen is not null) nodeCmd.AddRange(["--listen-tcp", listen]);
            if (pr.GetValue(plainTcp))
            {
                if (listen is null) throw new UsageException("--plain-tcp applies to --listen-tcp, which is not given");
                if (clustered) throw new UsageException("--plain-tcp: a clustered node's API is TLS with its cluster certificate (joins are bound to it)");
                nodeCmd.Add("--plain-tcp");
            }
            else if (clustered) nodeCmd.AddRange(["--tls-cert", pki.NodeCert, "--tls-key", pki.NodeKey]);
            if (pr.GetValue(metrics) is { } metricsAt) nodeCmd.AddRange(["--metrics-listen", metricsAt]);
            if (pr.GetValue(ttl) is { } t) nodeCmd.AddRange(["--token-ttl", t.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            if (pool is not null) nodeCmd.AddRange(["--subnet-pool", pool]);
            if (size is { } sz) nodeCmd.AddRange(["--subnet-size", sz.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            var nodeSpec = new UnitSpec("tinyonode", Absolute(nodeCmd), passEnv, [daemons.Units.UnitName("tinyokv")], KeepChildren: true);
            if (daemons.Find("tinyonode") is { } nodeRun)
                Report("tinyonode", nodeRun, daemons.UnitOutdated(nodeRun, nodeSpec));
            else
            {
                var node = daemons.Start(mode, nodeSpec);
                if (!await WaitNodeAsync(client, node.Pid, TimeSpan.FromSeconds(30), ct))
                {
                    var tail = daemons.LogTail(node, "tinyonode");
                    daemons.Stop("tinyonode", TimeSpan.FromSeconds(2));
                    throw new CtlException(StartFailure("tinyonode", daemons.LogPlace(node, "tinyonode"), layout.Root, tail));
                }
                Console.WriteLine($"tinyonode {Common.Green("started")} ({node}, {socket})");
            }

            // 3. net and admin (one KV transaction on the node; refused once done). A joining node finds both there.
            if (joined is null)
            {
                try
                {
                    await client.InitAsync(new InitRequest(netName, userName, password), ct);
                    Console.WriteLine($"net       {Common.Green("created")}: {netName}");
                    Console.WriteLine($"user      {Common.Green("created")}: {userName}");
                }
                catch (ApiException e) when (e.Code == "exists")
                {
                    // Already initialised: the net must be ours; then log in with the given password.
                    var existing = e.Message.StartsWith("already initialised: net ", StringComparison.Ordinal) ? e.Message["already initialised: net ".Length..] : null;
                    if (existing is not null && existing != netName)
                        throw new ApiException(409, "exists", $"this node already belongs to net '{existing}', not '{netName}'");
                    Console.WriteLine($"net       already there: {existing ?? netName}");
                }
            }

            // 4. log in (a joined node: once its KV has the users, i.e. has caught up)
            var login = await LoginAsync(client, userName, password, joined is null ? TimeSpan.Zero : TimeSpan.FromSeconds(30), ct);
            Credentials.Set(client.Address, new SavedLogin(login.User, login.Token, login.Expires));
            Console.WriteLine($"logged in as {login.User} (token in {Credentials.FilePath}, expires {login.Expires:yyyy-MM-dd HH:mm}Z)");

            // 5. the TCP listener's TLS key, learnt over the root-only unix socket (already trusted) and pinned for its
            // address, so `tio --host tcp://…` here trusts exactly this node; remote machines pin it with tio login --fingerprint.
            if (listen is not null && !pr.GetValue(plainTcp))
            {
                var status = await new NodeClient(client.Address, login.Token).StatusAsync(ct);
                if (status.TlsPin is { } pin)
                {
                    foreach (var a in PinAddresses(listen)) Credentials.SetPin(a, pin);
                    Console.WriteLine($"api       tcp://{listen} over TLS, key {pin}");
                    Console.WriteLine($"          remote clients: tio login --host tcp://HOST:PORT --fingerprint {pin}");
                }
            }
            if (joined is not null)
                Console.WriteLine($"joined    net {netName} as node {name} ({address}, KV {joined.Response.Role}) in {clock.ElapsedMilliseconds} ms");
            }
        });
        return cmd;
    }

    /// <summary>Logs in; a joined node's KV may still be catching up (users not there yet, or no leader): retried until <paramref name="patience"/>.</summary>
    private static async Task<LoginResponse> LoginAsync(NodeClient client, string user, string password, TimeSpan patience, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + patience;
        while (true)
        {
            try
            {
                return await client.LoginAsync(user, password, ct);
            }
            catch (ApiException e) when (DateTime.UtcNow < deadline && e.Status is 401 or 503)
            {
                await Task.Delay(100, ct);
            }
        }
    }

    /// <summary>The form of --subnet-pool and --subnet-size, before anything starts (the node checks the rest: reserved
    /// ranges, the cluster's stored pool).</summary>
    private static void CheckSubnets(string? pool, int? size)
    {
        int poolPrefix = 8;
        if (pool is not null)
        {
            if (!System.Net.IPNetwork.TryParse(pool, out var p) || p.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || !pool.Contains('/'))
                throw new UsageException($"--subnet-pool {pool}: expected an IPv4 network as A.B.C.D/N with no host bits (e.g. 10.200.0.0/16)");
            if (p.PrefixLength < 8) throw new UsageException($"--subnet-pool {pool}: larger than a /8");
            poolPrefix = p.PrefixLength;
        }
        if (size is { } n && (n < poolPrefix || n > 30))
            throw new UsageException($"--subnet-size {n}: a prefix length between {(pool is null ? "the pool's" : "/" + poolPrefix)} and 30 (22: 1021 replicas per node and cluster)");
    }

    /// <summary>The host name as a node name: lower case, anything outside a-z, 0-9 and '-' made a '-', at most 63 characters.</summary>
    private static string HostNodeName()
    {
        var n = new string(Environment.MachineName.ToLowerInvariant().Select(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) ? c : '-').ToArray());
        n = n.Length > 63 ? n[..63] : n;
        n = n.Trim('-');
        return n.Length > 0 ? n : "node";
    }

    /// <summary>-ip IP or IP:PORT (IPv6 in brackets with a port).</summary>
    private static System.Net.DnsEndPoint JoinTarget(string s)
    {
        if (System.Net.IPAddress.TryParse(s, out var a)) return new System.Net.DnsEndPoint(a.ToString(), ClusterJoin.DefaultApiPort);
        if (System.Net.IPEndPoint.TryParse(s, out var ep) && ep.Port > 0) return new System.Net.DnsEndPoint(ep.Address.ToString(), ep.Port);
        throw new UsageException($"-ip {s}: expected the IP address of a node of the cluster (IP or IP:PORT)");
    }

    /// <summary>An address as it goes before ":port" (IPv6 in brackets).</summary>
    private static string Host(string ip) => ip.Contains(':') ? $"[{ip}]" : ip;

    /// <summary>
    /// This host's clock; <c>TINYO_TEST_CLOCK_SKEW_S</c> shifts it (tests only: a network namespace cannot have its
    /// own wall clock, so the clock check is tested this way).
    /// </summary>
    private static Func<DateTimeOffset> TestClock()
    {
        var skew = double.TryParse(Common.Env("TINYO_TEST_CLOCK_SKEW_S"), System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : 0;
        return () => DateTimeOffset.UtcNow.AddSeconds(skew);
    }

    private static Dictionary<string, string> Labels(string[] given)
    {
        var d = new Dictionary<string, string>();
        foreach (var l in given)
        {
            var eq = l.IndexOf('=');
            if (eq <= 0) throw new UsageException($"--label {l}: expected key=value");
            d[l[..eq]] = l[(eq + 1)..];
        }
        return d;
    }

    /// <summary>
    /// A join that failed after the other node accepted it: this host goes back to how it was (daemons stopped, the
    /// KV membership taken back when the KV had added it, keys, token, data and logs removed; the root itself when
    /// the join made it).
    /// </summary>
    private static void Undo(NodeDaemons daemons, NodeLayout layout, ClusterPki pki, bool rootExisted, ClusterJoin.Accepted joined,
        System.Net.IPAddress address, int kvPeer)
    {
        foreach (var c in (string[])["tinyonode", "tinyokv"])
        {
            try
            {
                daemons.Stop(c, TimeSpan.FromSeconds(2));
            }
            catch (CtlException)
            {
            }
        }
        try
        {
            daemons.RemoveUnits();
        }
        catch (CtlException)
        {
        }
        if (joined.Response.Role == "voter" && pki.Exists) TryMemberRemove(layout, pki, joined.Response.KvEndpoints, $"{Host(address.ToString())}:{kvPeer}");
        try
        {
            if (!rootExisted) Directory.Delete(layout.Root, recursive: true);
            else
            {
                pki.Remove();
                foreach (var d in (string[])[layout.KvData, Path.Combine(layout.Root, "run"), Path.Combine(layout.Root, "logs")])
                    if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
                File.Delete(layout.KvToken);
            }
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"tio: could not remove everything the join made under {layout.Root}: {e.Message}");
        }
    }

    /// <summary>Best effort: asks the cluster to drop the member this failed join may have added (`tinyokv member remove`).</summary>
    private static void TryMemberRemove(NodeLayout layout, ClusterPki pki, IReadOnlyList<string> endpoints, string peer)
    {
        try
        {
            var cmd = Supervisor.Locate("tinyokv", "TINYO_KV_BIN");
            var psi = new System.Diagnostics.ProcessStartInfo(cmd[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in cmd.Skip(1).Concat(["member", "remove", peer, "--endpoints", string.Join(',', endpoints), "--token-file", layout.KvToken,
                         "--cacert", pki.CaCert, "--cert", pki.NodeCert, "--key", pki.NodeKey]))
                psi.ArgumentList.Add(a);
            using var p = System.Diagnostics.Process.Start(psi);
            p?.WaitForExit(10_000);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or CtlException)
        {
        }
    }

    /// <summary>The addresses a local client may use for a listen address (0.0.0.0 is reached as 127.0.0.1 or localhost).</summary>
    private static IEnumerable<NodeAddress> PinAddresses(string listen)
    {
        var a = NodeAddress.Parse(listen);
        yield return a;
        if (a.Tcp!.Host is "0.0.0.0" or "::" or "127.0.0.1" or "localhost")
            foreach (var h in (string[])["127.0.0.1", "localhost"])
                if (h != a.Tcp.Host) yield return NodeAddress.Parse($"tcp://{h}:{a.Tcp.Port}");
    }

    private static void Report(string component, NodeDaemons.Daemon running, bool outdated)
    {
        Console.WriteLine($"{component} already running ({running})");
        if (outdated)
            Console.WriteLine($"          {Common.Yellow("note")}: its unit file differs from these settings; `tio down` then `tio ++` applies them");
    }

    /// <summary>A unit needs an absolute executable: `dotnet` (for a .dll) is looked up in PATH.</summary>
    private static List<string> Absolute(List<string> cmd)
    {
        if (Path.IsPathRooted(cmd[0])) return cmd;
        foreach (var dir in (Common.Env("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, cmd[0]);
            if (File.Exists(candidate)) return [Path.GetFullPath(candidate), .. cmd.Skip(1)];
        }
        throw new CtlException($"cannot find {cmd[0]} in PATH");
    }

    private static int Port(string env, int def)
        => Common.Env(env) is { } s && int.TryParse(s, out var p) && p is > 0 and < 65536 ? p : def;

    /// <summary>The KV token: created once (256 random bits, 0600) or the cluster's (a join), reused by later runs.</summary>
    private static string KvToken(NodeLayout layout, string? given = null)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        if (File.Exists(layout.KvToken)) return File.ReadAllText(layout.KvToken).Trim();
        var token = given ?? Convert.ToHexStringLower(KernelRandom.Bytes(32));
        using (var f = new FileStream(layout.KvToken, new FileStreamOptions
               {
                   Mode = FileMode.CreateNew, Access = FileAccess.Write,
                   UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
               }))
            f.Write(System.Text.Encoding.ASCII.GetBytes(token + "\n"));
        return token;
    }

    private static async Task<bool> WaitNodeAsync(NodeClient client, int pid, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (!Supervisor.Alive(pid)) return false;
            try
            {
                await client.VersionAsync(ct);
                return true;
            }
            catch (NodeUnreachableException)
            {
                await Task.Delay(50, ct);
            }
        }
        return false;
    }

    /// <summary>
    /// Why a daemon did not start: a full disk under the state directory first (its log could not be written, so
    /// the log's tail is old), then the tail itself.
    /// </summary>
    internal static string StartFailure(string component, string logPlace, string root, string tail)
    {
        if (StateDisk.Problem(root) is { } disk)
            return $"{component} did not start: {disk}" + (tail.Length > 0 ? $"\nits last log lines, possibly from before the disk filled ({logPlace}):\n{tail}" : "");
        return $"{component} did not start ({logPlace}):\n{tail}";
    }
}
