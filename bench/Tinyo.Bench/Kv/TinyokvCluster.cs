using System.Diagnostics;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;

namespace Tinyo.Bench.Kv;

/// <summary>
/// 3 × <c>$TINYO_BIN/tinyokv serve</c>: the first bootstraps, the others join one at a time (the documented way to
/// grow a group). Driven by one <see cref="KvClient"/> (one pipelined TCP connection, redirected to the leader).
/// </summary>
public sealed class TinyokvCluster(string root, byte[][] keys, byte[] value, string binary, string[] extraArgs, string name = "tinyokv")
    : KvCluster(root, keys, value)
{
    private const string Token = "tinyo-bench-kv-token";
    private KvClient? client;

    /// <summary>"tinyokv", or "tinyokv-shm" for the same binary with <c>--wal-memory shared</c> (<c>--wal-compare</c>).</summary>
    public override string Name => name;

    protected override void ConfigureEnvironment(ProcessStartInfo psi) => psi.Environment["TINYOKV_TOKEN"] = Token;

    public override async Task StartAsync(CancellationToken token)
    {
        var clientAddrs = new List<string>();
        for (var i = 1; i <= 3; i++)
        {
            var name = $"k{i}";
            var clientAddr = $"127.0.0.1:{FreePort()}";
            string[] args = ["serve", "--name", name, "--data-dir", Path.Combine(Root, name), "--listen-peer", $"127.0.0.1:{FreePort()}",
                "--listen-client", clientAddr, .. i == 1 ? new[] { "--bootstrap" } : ["--join", clientAddrs[0]], .. extraArgs];
            Spawn(name, Path.Combine(Root, name), binary, args);
            clientAddrs.Add(clientAddr);
            await WaitAsync(clientAddrs[0], i, token).ConfigureAwait(false);
        }
        client = new KvClient(new KvClientOptions { Endpoints = Endpoints.ParseList(string.Join(',', clientAddrs)), Token = Token });
    }

    private async Task WaitAsync(string first, int count, CancellationToken token)
    {
        await using var probe = new KvClient(new KvClientOptions
        {
            Endpoints = Endpoints.ParseList(first), Token = Token, RequestTimeout = TimeSpan.FromSeconds(2),
        });
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            CheckAlive();
            try
            {
                var list = await probe.MemberListAsync(token).ConfigureAwait(false);
                if (list.Count == count && list.Any(m => m.IsLeader) && list.All(m => m.Status == "available")) return;
            }
            catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
            {
            }
            if (deadline.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException($"tinyokv: {count} members not up after 30 s (logs in {Root})");
            await Task.Delay(100, token).ConfigureAwait(false);
        }
    }

    public override Task PutAsync(int i, CancellationToken token) => client!.PutAsync(Keys[i % Keys.Length], Value, ct: token);

    public override Task GetAsync(int i, bool serializable, CancellationToken token) => client!.GetAsync(Keys[i % Keys.Length], serializable, token);

    public override async ValueTask DisposeAsync()
    {
        if (client is not null) await client.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
