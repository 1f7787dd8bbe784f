using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Tinyo.Ctl.Client;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>These tests start real tinyokv and tinyonode processes: one at a time.</summary>
[CollectionDefinition("e2e", DisableParallelization = true)]
public sealed class E2eCollection;

/// <summary>
/// One node set up by the real `tio ++` in a temp root with its own socket, ports and config dir. Dispose runs
/// `tio down`, then SIGKILLs whatever a pid file still names (only if /proc says it is ours), then deletes the root.
/// </summary>
public sealed class TioNode : IAsyncDisposable
{
    public const string Password = "correct-horse-1";
    private readonly Dictionary<string, string> env;

    public TioNode()
    {
        Dir = Directory.CreateTempSubdirectory("tio-e2e-").FullName;
        Root = Path.Combine(Dir, "root");
        Socket = Path.Combine(Dir, "node.sock");
        env = new Dictionary<string, string>
        {
            ["TINYO_ROOT"] = Root,
            ["TINYO_SOCKET"] = Socket,
            ["XDG_CONFIG_HOME"] = Path.Combine(Dir, "config"),
            ["TINYO_KV_PORT"] = FreePort().ToString(),
            ["TINYO_KV_PEER_PORT"] = FreePort().ToString(),
            ["NO_COLOR"] = "1",
            // Detached processes even on a systemd host (SystemdTests covers the units, inside its own systemd).
            ["TINYO_SUPERVISOR"] = "process",
            // The node's reconciler pulls images: never from beyond loopback in tests.
            ["TINYO_OFFLINE"] = "1",
        };
        if (Binaries.Dir is null)
        {
            env["TINYO_KV_BIN"] = Binaries.Dll("tinyokv");
            env["TINYO_NODE_BIN"] = Binaries.Dll("tinyonode");
        }
    }

    public string Dir { get; }
    public string Root { get; }

    /// <summary>A network namespace file: tio (and so the tinyokv and tinyonode it starts) runs inside it.</summary>
    public string? Netns { get; init; }
    public string Socket { get; }

    /// <summary>The clusters this node's tests made (<c>testnet</c>, the one of <see cref="InitAsync"/>, and those a test
    /// adds): whose bridges the clean-up removes if the node left them.</summary>
    public List<string> Clusters { get; } = ["testnet"];
    public int KvPort => int.Parse(env["TINYO_KV_PORT"]);
    public int KvPeerPort => int.Parse(env["TINYO_KV_PEER_PORT"]);
    public NodeClient Api(string? token = null) => new(new NodeAddress(Socket, null), token);

    public static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    public static async Task<TioNode> InitAsync(params string[] extra)
    {
        var n = new TioNode();
        try
        {
            var r = await n.Tio(["++", "-net", "testnet", "-u", "admin", "-p", Password, .. extra]);
            Assert.True(r.Code == 0, $"tio ++ failed ({r.Code}): {r.Out}{r.Err}\n{n.Log("tinyonode")}\n{n.Log("tinyokv")}");
            return n;
        }
        catch
        {
            await n.DisposeAsync();
            throw;
        }
    }

    /// <summary>The token `tio login` saved in this node's config dir.</summary>
    public string SavedToken()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "config", "tinyo", "credentials.json")));
        return doc.RootElement.GetProperty("logins").EnumerateObject().First().Value.GetProperty("token").GetString()!;
    }

    public string Log(string component)
    {
        var f = Path.Combine(Root, "logs", component + ".log");
        return File.Exists(f) ? File.ReadAllText(f) : "";
    }

    public int? Pid(string component)
    {
        var f = Path.Combine(Root, "run", component + ".pid");
        return File.Exists(f) ? int.Parse(File.ReadAllText(f).Trim()) : null;
    }

    public async Task<(int Code, string Out, string Err)> Tio(string[] args, string? stdin = null, Dictionary<string, string>? extraEnv = null)
    {
        var psi = Binaries.Start("tio");
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (Netns is not null)
        {
            var inner = psi;
            psi = new ProcessStartInfo("nsenter") { UseShellExecute = false };
            psi.ArgumentList.Add("--net=" + Netns);
            psi.ArgumentList.Add(inner.FileName);
            foreach (var a in inner.ArgumentList) psi.ArgumentList.Add(a);
        }
        psi.RedirectStandardInput = psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        foreach (var k in (string[])["TINYO_HOST", "TINYO_TOKEN", "TINYO_PASSWORD", "TINYO_LISTEN_TCP"]) psi.Environment.Remove(k);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        if (extraEnv is not null)
            foreach (var (k, v) in extraEnv) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"tio {string.Join(' ', args)} hung");
        }
        return (p.ExitCode, await o, await e);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Tio(["down", "--grace", "5"]);
        }
        catch (Exception)
        {
            // fall through to the hard cleanup
        }
        // What tio down left (a node killed after its grace): its processes, the replicas' namespace mounts, its nft
        // table and bridges — from the host, or from the test's namespace.
        var daemons = new List<int>();
        foreach (var c in (string[])["tinyonode", "tinyokv"])
        {
            if (Pid(c) is not { } pid) continue;
            try
            {
                if (File.ReadAllText($"/proc/{pid}/cmdline").Contains(Root)) daemons.Add(pid);
            }
            catch (Exception)
            {
                // gone
            }
        }
        HostSweep.Sweep(Dir, daemons, Root, Netns, Clusters);
        try
        {
            Directory.Delete(Dir, true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>$TINYO_BIN's AOT binaries when set, else the dotnet-built dlls.</summary>
public static class Binaries
{
    public static string? Dir => Environment.GetEnvironmentVariable("TINYO_BIN") is { Length: > 0 } d && File.Exists(Path.Combine(d, "tio")) ? d : null;

    public static string Dll(string name)
        => new DirectoryInfo(Path.Combine(Repo.Root, "artifacts", "bin", name))
               .EnumerateFiles(name + ".dll", SearchOption.AllDirectories)
               .OrderByDescending(f => f.LastWriteTimeUtc).FirstOrDefault()?.FullName
           ?? throw new InvalidOperationException($"{name}.dll not built");

    public static ProcessStartInfo Start(string name)
    {
        if (Dir is { } d) return new ProcessStartInfo(Path.Combine(d, name)) { UseShellExecute = false };
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false };
        psi.ArgumentList.Add(Dll(name));
        return psi;
    }
}
