using System.Diagnostics;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// Test-made "hosts" for multi-node tests: one network namespace per host, each with a veth pair whose other end is
/// on a bridge in a separate "switch" namespace the test also makes, addresses in 10.99.0.0/24. No link, route or
/// address of the machine's own namespace is touched: traffic stays inside these namespaces. Each host has its own
/// runtime root, sockets, config dir and ports. Dispose kills every daemon of every host by the pid its pid file names
/// (only when /proc says it runs under that host's root), deletes the namespaces (their links go with them) and the
/// directories; also after a failure.
/// </summary>
public sealed class MeshHosts : IAsyncDisposable
{
    public const string Password = "correct-horse-1";
    private readonly string tag = $"tm{Environment.ProcessId % 100000}";
    private readonly List<MeshHost> hosts = [];
    private bool switchMade;

    public string Switch => $"{tag}-sw";

    public IReadOnlyList<MeshHost> Hosts => hosts;

    /// <summary>Null when the tests can run here, else why not.</summary>
    public static string? CannotRun()
    {
        if (Environment.UserName != "root") return "needs root (network namespaces)";
        if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip")) return "needs iproute2 (ip)";
        return null;
    }

    /// <summary>Makes the switch namespace and bridge, then <paramref name="count"/> hosts 10.99.0.1 … .N.</summary>
    public static async Task<MeshHosts> CreateAsync(int count)
    {
        var m = new MeshHosts();
        try
        {
            await Ip("netns", "add", m.Switch);
            m.switchMade = true;
            await Ip("-n", m.Switch, "link", "add", "br0", "type", "bridge");
            await Ip("-n", m.Switch, "link", "set", "br0", "up");
            for (var i = 0; i < count; i++) await m.AddHostAsync();
            return m;
        }
        catch
        {
            await m.DisposeAsync();
            throw;
        }
    }

    /// <summary>Adds one more host on the bridge.</summary>
    public async Task<MeshHost> AddHostAsync()
    {
        var i = hosts.Count + 1;
        var h = new MeshHost($"{tag}-h{i}", $"10.99.0.{i}", i);
        hosts.Add(h);
        await Ip("netns", "add", h.Netns);
        h.NetnsMade = true;
        await Ip("link", "add", $"{tag}v{i}", "netns", h.Netns, "type", "veth", "peer", "name", $"{tag}p{i}", "netns", Switch);
        await Ip("-n", h.Netns, "link", "set", $"{tag}v{i}", "name", "eth0");
        await Ip("-n", h.Netns, "addr", "add", h.Address + "/24", "dev", "eth0");
        await Ip("-n", h.Netns, "link", "set", "eth0", "up");
        await Ip("-n", h.Netns, "link", "set", "lo", "up");
        await Ip("-n", Switch, "link", "set", $"{tag}p{i}", "master", "br0");
        await Ip("-n", Switch, "link", "set", $"{tag}p{i}", "up");
        return h;
    }

    public static async Task Ip(params string[] args)
    {
        var r = await Run("ip", args, null, TimeSpan.FromSeconds(20));
        if (r.Code != 0) throw new InvalidOperationException($"ip {string.Join(' ', args)}: {r.Err}");
    }

    public static async Task<(int Code, string Out, string Err)> Run(string file, IEnumerable<string> args, IDictionary<string, string>? env, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null)
            foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} hung");
        }
        return (p.ExitCode, await o, await e);
    }

    public async ValueTask DisposeAsync()
    {
        // SIGKILL each host's daemons with everything they started or that runs in its namespaces, and unmount the
        // replicas' namespace files (mounted in this, the real host's, mount namespace: `ip netns del` alone would
        // keep every one of them, and with them their veths, alive). Bridges and nft tables go with the host's netns.
        foreach (var h in hosts) HostSweep.Sweep(h.Dir, h.DaemonPids(), root: h.Root, netns: h.NetnsMade ? $"/run/netns/{h.Netns}" : null);
        foreach (var h in hosts)
        {
            if (h.NetnsMade) await Run("ip", ["netns", "del", h.Netns], null, TimeSpan.FromSeconds(20));
            try
            {
                Directory.Delete(h.Dir, true);
            }
            catch (IOException)
            {
            }
        }
        if (switchMade) await Run("ip", ["netns", "del", Switch], null, TimeSpan.FromSeconds(20));
    }
}

/// <summary>One test host: its namespace, address, root and sockets; runs tio inside its namespace.</summary>
public sealed class MeshHost(string netns, string address, int index)
{
    public string Netns { get; } = netns;
    public string Address { get; } = address;
    public string Name { get; } = $"node-{(char)('a' + index - 1)}";
    public bool NetnsMade { get; set; }
    public string Dir { get; } = Directory.CreateTempSubdirectory("tio-mesh-").FullName;
    public string Root => Path.Combine(Dir, "root");
    public string Socket => Path.Combine(Dir, "node.sock");

    public Dictionary<string, string> Env()
    {
        var env = new Dictionary<string, string>
        {
            ["TINYO_ROOT"] = Root,
            ["TINYO_SOCKET"] = Socket,
            ["XDG_CONFIG_HOME"] = Path.Combine(Dir, "config"),
            ["NO_COLOR"] = "1",
            ["TINYO_SUPERVISOR"] = "process",
            ["TINYO_OFFLINE"] = "1",
            ["TINYO_NODE_LEASE_TTL"] = "3",
            ["TINYO_NODE_NAME"] = Name,
        };
        if (Binaries.Dir is null)
        {
            env["TINYO_KV_BIN"] = Binaries.Dll("tinyokv");
            env["TINYO_NODE_BIN"] = Binaries.Dll("tinyonode");
        }
        foreach (var k in (string[])["TINYO_HOST", "TINYO_TOKEN", "TINYO_PASSWORD", "TINYO_LISTEN_TCP", "TINYO_ADDR", "TINYO_KV_PORT", "TINYO_KV_PEER_PORT"])
            env[k] = "";
        return env;
    }

    /// <summary>Runs tio in this host's namespace: entered with <c>nsenter --net</c>, not <c>ip netns exec</c>, which
    /// also mounts a fresh /sys in a mount namespace of its own — the node it starts would see no cgroup hierarchies
    /// and could start no container.</summary>
    public Task<(int Code, string Out, string Err)> Tio(string[] args, Dictionary<string, string>? extra = null)
    {
        var env = Env();
        if (extra is not null)
            foreach (var (k, v) in extra) env[k] = v;
        var start = Binaries.Start("tio");
        return MeshHosts.Run("nsenter", [$"--net=/run/netns/{Netns}", "--", start.FileName, .. start.ArgumentList, .. args], env, TimeSpan.FromSeconds(120));
    }

    public int? Pid(string component)
    {
        var f = Path.Combine(Root, "run", component + ".pid");
        return File.Exists(f) && int.TryParse(File.ReadAllText(f).Trim(), out var p) ? p : null;
    }

    public string Log(string component)
    {
        var f = Path.Combine(Root, "logs", component + ".log");
        return File.Exists(f) ? File.ReadAllText(f) : "";
    }

    /// <summary>The pids of processes whose command line names this host's root (its daemons), from /proc.</summary>
    public List<int> DaemonPids()
    {
        var list = new List<int>();
        foreach (var d in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(d), out var pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(d, "cmdline")).Contains(Dir, StringComparison.Ordinal)) list.Add(pid);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return list;
    }

    /// <summary>SIGKILLs this host's daemons (by pid, only those whose command line names this host's directory).</summary>
    public void KillDaemons()
    {
        foreach (var pid in DaemonPids())
        {
            try
            {
                Process.GetProcessById(pid).Kill();
            }
            catch (Exception)
            {
                // gone
            }
        }
    }

    /// <summary>Resident memory of this host's daemons, bytes (VmRSS of each).</summary>
    public long DaemonRss()
    {
        long sum = 0;
        foreach (var c in (string[])["tinyokv", "tinyonode"])
        {
            if (Pid(c) is not { } pid) continue;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    sum += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        }
        return sum;
    }
}
