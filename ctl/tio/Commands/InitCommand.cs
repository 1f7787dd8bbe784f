using System.CommandLine;
using Tinyo.Api;
using Tinyo.Ctl.Client;
using Tinyo.Ctl.Setup;
using Tinyo.Api.Statefile;
using Tinyo.Linux;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>
/// tio ++ (init): starts tinyokv (one member) and tinyonode — as systemd units when systemd is the init system, else
/// as detached, supervised processes (--supervisor overrides) — creates the net and the admin user, and logs this CLI
/// in. Idempotent: a second run reports what is already there.
/// </summary>
internal static class InitCommand
{
    public static Command Create()
    {
        var net = new Option<string>("-net", "--net") { Description = "The cluster's name", Required = true };
        var user = new Option<string>("-u", "--user") { Description = "The admin user to create", Required = true };
        var pass = new Option<string?>("-p", "--password") { Description = "The admin's password (else TINYO_PASSWORD or stdin)" };
        var ip = new Option<string?>("-ip", "--ip") { Description = "Join the cluster of the node at this address (not supported yet)" };
        var kvPort = new Option<int>("--kv-port") { Description = "tinyokv client port on 127.0.0.1 (env TINYO_KV_PORT)", DefaultValueFactory = _ => Port("TINYO_KV_PORT", 2379) };
        var kvPeerPort = new Option<int>("--kv-peer-port") { Description = "tinyokv Raft port on 127.0.0.1 (env TINYO_KV_PEER_PORT)", DefaultValueFactory = _ => Port("TINYO_KV_PEER_PORT", 2380) };
        var tcp = new Option<string?>("--listen-tcp") { Description = "Also serve the API on ip:port for remote clients (env TINYO_LISTEN_TCP)" };
        var plainTcp = new Option<bool>("--plain-tcp") { Description = "Serve --listen-tcp without TLS (clients use tcp+plain://); TLS is the default" };
        var ttl = new Option<int?>("--token-ttl") { Description = "Login token lifetime in seconds (default 86400)" };
        var supervisor = new Option<string?>("--supervisor")
        {
            Description = "How the daemons run: auto (systemd units when systemd is the init system, else detached processes), systemd or process (env TINYO_SUPERVISOR)",
        };
        supervisor.AcceptOnlyFromAmong(ServiceModes.Names);
        var cmd = new Command("++", "Start a single-node cluster here: tinyokv + tinyonode, the net, the admin user; log in")
        {
            net, user, pass, ip, kvPort, kvPeerPort, tcp, plainTcp, ttl, supervisor,
        };
        cmd.Aliases.Add("init");
        Common.Run(cmd, async (pr, ct) =>
        {
            if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
            if (pr.GetValue(ip) is { } join)
                throw new UsageException($"joining a cluster (-ip {join}) is not supported yet: this version runs single-node clusters only");
            var netName = pr.GetValue(net)!;
            var userName = pr.GetValue(user)!;
            if (!Statefile.IsValidName(netName)) throw new UsageException($"invalid net name '{netName}': 1-63 of a-z, 0-9 and '-'");
            if (!Statefile.IsValidName(userName)) throw new UsageException($"invalid user name '{userName}': 1-63 of a-z, 0-9 and '-'");
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

            Directory.CreateDirectory(layout.Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            KvToken(layout);
            // Variables tinyonode reads that its unit would not inherit (systemd starts services with a clean
            // environment); detached processes inherit them anyway.
            var passEnv = new Dictionary<string, string>();
            foreach (var name in (string[])["TINYO_OFFLINE", "TINYO_REGISTRY_MIRRORS", "DOCKER_CONFIG"])
                if (Common.Env(name) is { } v) passEnv[name] = v;

            // 1. tinyokv (the token is read from its 0600 file: never on a command line, in a unit or in the environment)
            var kvCmd = Supervisor.Locate("tinyokv", "TINYO_KV_BIN");
            kvCmd.AddRange(["serve", "--name", "kv", "--data-dir", layout.KvData, "--token-file", layout.KvToken,
                "--listen-peer", $"127.0.0.1:{kvPeer}", "--listen-client", $"127.0.0.1:{kvClient}", "--bootstrap"]);
            var kvSpec = new UnitSpec("tinyokv", Absolute(kvCmd), new Dictionary<string, string>(), [], KeepChildren: false);
            if (daemons.Find("tinyokv") is { } kvRun)
                Report("tinyokv  ", kvRun, daemons.UnitOutdated(kvRun, kvSpec));
            else
            {
                var kv = daemons.Start(mode, kvSpec);
                if (!await Supervisor.WaitTcpAsync("127.0.0.1", kvClient, kv.Pid, TimeSpan.FromSeconds(30)))
                {
                    var tail = daemons.LogTail(kv, "tinyokv");
                    daemons.Stop("tinyokv", TimeSpan.FromSeconds(2));
                    throw new CtlException(StartFailure("tinyokv", daemons.LogPlace(kv, "tinyokv"), layout.Root, tail));
                }
                Console.WriteLine($"tinyokv   {Common.Green("started")} ({kv}, 127.0.0.1:{kvClient})");
            }

            // 2. tinyonode
            var client = new NodeClient(new NodeAddress(socket, null)) { Timeout = TimeSpan.FromSeconds(15) };
            var nodeCmd = Supervisor.Locate("tinyonode", "TINYO_NODE_BIN");
            nodeCmd.AddRange(["serve", "--root", layout.Root, "--socket", socket, "--kv-endpoints", $"127.0.0.1:{kvClient}",
                "--kv-token-file", layout.KvToken]);
            var listen = pr.GetValue(tcp) ?? Common.Env("TINYO_LISTEN_TCP");
            if (listen is not null) nodeCmd.AddRange(["--listen-tcp", listen]);
            if (pr.GetValue(plainTcp))
            {
                if (listen is null) throw new UsageException("--plain-tcp applies to --listen-tcp, which is not given");
                nodeCmd.Add("--plain-tcp");
            }
            if (pr.GetValue(ttl) is { } t) nodeCmd.AddRange(["--token-ttl", t.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
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

            // 3. net and admin (one KV transaction on the node; refused once done)
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

            // 4. log in
            var login = await client.LoginAsync(userName, password, ct);
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
            return Exit.Ok;
        });
        return cmd;
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

    /// <summary>The KV token: created once (256 random bits, 0600), reused by later runs.</summary>
    private static string KvToken(NodeLayout layout)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        if (File.Exists(layout.KvToken)) return File.ReadAllText(layout.KvToken).Trim();
        var token = Convert.ToHexStringLower(KernelRandom.Bytes(32));
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
