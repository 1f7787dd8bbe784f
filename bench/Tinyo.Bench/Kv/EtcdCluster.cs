using System.Diagnostics;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;

namespace Tinyo.Bench.Kv;

/// <summary>
/// 3 × Debian's <c>etcd</c>, a static cluster on loopback (default settings: WAL fsync on every batch, snapshot
/// every 100,000 entries), driven through its native gRPC API (etcd's generated stubs from dotnet-etcd over one
/// <see cref="GrpcChannel"/>: one HTTP/2 connection) to the leader, as the tinyokv client ends up talking to its leader.
/// </summary>
public sealed class EtcdCluster(string root, byte[][] keys, byte[] value, string binary) : KvCluster(root, keys, value)
{
    private readonly List<string> clientUrls = [];
    private GrpcChannel? channel;
    private KV.KVClient? kv;
    private ByteString[] keyStrings = [];
    private ByteString valueString = ByteString.Empty;

    public override string Name => "etcd";

    public override async Task StartAsync(CancellationToken token)
    {
        var peers = Enumerable.Range(1, 3).Select(_ => $"http://127.0.0.1:{FreePort()}").ToArray();
        var cluster = string.Join(',', peers.Select((p, i) => $"e{i + 1}={p}"));
        for (var i = 0; i < 3; i++)
        {
            var name = $"e{i + 1}";
            var url = $"http://127.0.0.1:{FreePort()}";
            clientUrls.Add(url);
            Spawn(name, Path.Combine(Root, name), binary, "--name", name, "--data-dir", Path.Combine(Root, name),
                "--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
                "--listen-client-urls", url, "--advertise-client-urls", url,
                "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "tinyo-bench-" + Environment.ProcessId,
                "--logger", "zap", "--log-level", "error");
        }
        var leader = await WaitForLeaderAsync(token).ConfigureAwait(false);
        channel = GrpcChannel.ForAddress(leader);
        kv = new KV.KVClient(channel);
        keyStrings = Keys.Select(ByteString.CopyFrom).ToArray();
        valueString = ByteString.CopyFrom(Value);
    }

    private async Task<string> WaitForLeaderAsync(CancellationToken token)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            CheckAlive();
            var up = 0;
            string? leader = null;
            foreach (var url in clientUrls)
            {
                try
                {
                    using var ch = GrpcChannel.ForAddress(url);
                    var s = await new Maintenance.MaintenanceClient(ch).StatusAsync(new StatusRequest(),
                        deadline: DateTime.UtcNow.AddSeconds(2), cancellationToken: token).ConfigureAwait(false);
                    up++;
                    if (s.Leader != 0 && s.Leader == s.Header.MemberId) leader = url;
                }
                catch (Grpc.Core.RpcException)
                {
                }
            }
            if (up == 3 && leader is not null) return leader;
            if (deadline.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException($"etcd: no leader after 30 s (logs in {Root})");
            await Task.Delay(100, token).ConfigureAwait(false);
        }
    }

    public override Task PutAsync(int i, CancellationToken token) =>
        kv!.PutAsync(new PutRequest { Key = keyStrings[i % keyStrings.Length], Value = valueString }, cancellationToken: token).ResponseAsync;

    public override Task GetAsync(int i, bool serializable, CancellationToken token) =>
        kv!.RangeAsync(new RangeRequest { Key = keyStrings[i % keyStrings.Length], Serializable = serializable }, cancellationToken: token).ResponseAsync;

    public override async ValueTask DisposeAsync()
    {
        channel?.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
