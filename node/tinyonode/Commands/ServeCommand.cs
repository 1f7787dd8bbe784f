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
        var tcp = new Option<string?>("--listen-tcp") { Description = "Also serve remote clients on ip:port (bearer tokens required)" };
        var kv = new Option<string>("--kv-endpoints") { Description = "tinyokv client addresses, comma-separated; env TINYO_KV_ENDPOINTS", DefaultValueFactory = _ => Env("TINYO_KV_ENDPOINTS") ?? "127.0.0.1:2379" };
        var kvToken = new Option<string?>("--kv-token-file") { Description = "File holding the tinyokv token (default: ROOT/kv.token; env TINYOKV_TOKEN wins)" };
        var name = new Option<string>("--name") { Description = "Node name", DefaultValueFactory = _ => Environment.MachineName };
        var ttl = new Option<double>("--token-ttl") { Description = "Login token lifetime, seconds", DefaultValueFactory = _ => 86400 };
        var iters = new Option<int>("--pbkdf2-iterations") { Description = "PBKDF2-SHA256 iterations for new passwords", DefaultValueFactory = _ => Security.Passwords.DefaultIterations };
        var cmd = new Command("serve", "Run the node daemon") { root, socket, tcp, kv, kvToken, name, ttl, iters };
        cmd.SetAction(async (pr, ct) =>
        {
            try
            {
                var rootDir = pr.GetValue(root)!;
                var token = Env("TINYOKV_TOKEN") ?? ReadToken(pr.GetValue(kvToken) ?? Path.Combine(rootDir, "kv.token"));
                if (pr.GetValue(ttl) is var t && t <= 0) throw new NodeException("--token-ttl must be positive");
                if (pr.GetValue(iters) < 1000) throw new NodeException("--pbkdf2-iterations must be at least 1000");
                var options = new NodeOptions
                {
                    Root = rootDir,
                    Socket = pr.GetValue(socket)!,
                    Tcp = pr.GetValue(tcp) is { } addr ? Endpoints.Parse(addr) : null,
                    KvEndpoints = Endpoints.ParseList(pr.GetValue(kv)!),
                    KvToken = token,
                    Name = pr.GetValue(name)!,
                    TokenTtl = TimeSpan.FromSeconds(t),
                    Pbkdf2Iterations = pr.GetValue(iters),
                };
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
                using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
                await using (var daemon = new NodeDaemon(options))
                {
                    daemon.Start();
                    try
                    {
                        await Task.Delay(Timeout.Infinite, stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                    options.Log("stopping");
                }
                return 0;
            }
            catch (Exception e) when (e is NodeException or Kv.KvException or IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
            {
                Console.Error.WriteLine($"tinyonode: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    private static string ReadToken(string file)
    {
        if (!File.Exists(file)) throw new NodeException($"no tinyokv token: {file} does not exist (pass --kv-token-file or set TINYOKV_TOKEN)");
        return File.ReadAllText(file).Trim();
    }
}
