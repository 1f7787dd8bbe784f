using System.CommandLine;
using System.Runtime.InteropServices;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;
using Tinyo.Kv.Raft;
using Tinyo.Kv.Server;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>tinyokv serve: runs one member until SIGTERM or SIGINT.</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var name = new Option<string>("--name") { Description = "Member name", DefaultValueFactory = _ => Environment.MachineName };
        var dataDir = new Option<string>("--data-dir") { Description = "Data directory (WAL, snapshots, membership)", Required = true };
        var peer = new Option<string>("--listen-peer") { Description = "Raft address ip:port (the member's identity)", DefaultValueFactory = _ => "127.0.0.1:2380" };
        var client = new Option<string>("--listen-client") { Description = "Client address ip:port", DefaultValueFactory = _ => "127.0.0.1:2379" };
        var bootstrap = new Option<bool>("--bootstrap") { Description = "Start a new one-member group if the data dir is empty" };
        var join = new Option<string?>("--join") { Description = "Client addresses of a running group: ask it to add this member" };
        var standby = new Option<bool>("--standby") { Description = "Never stand for election" };
        var snapshotEvery = new Option<long>("--snapshot-every") { Description = "Writes applied between snapshots (log entries; each write of a batched entry counts)", DefaultValueFactory = _ => 50_000 };
        var maxRequest = new Option<long>("--max-request-bytes") { Description = "Largest request accepted", DefaultValueFactory = _ => 96L << 20 };
        var quota = new Option<long>("--quota-bytes") { Description = "Optional quota on keys+values bytes (0: none)" };
        var chunk = new Option<int>("--wal-chunk-size") { Description = "WAL chunk size, bytes", DefaultValueFactory = _ => 1 << 20 };
        var election = new Option<int>("--election-timeout") { Description = "Election timeout (ms, lower bound; upper is twice)", DefaultValueFactory = _ => 300 };
        var verbose = new Option<bool>("--verbose") { Description = "Log Raft events" };
        var cmd = new Command("serve", "Run a member of a tinyokv group")
        {
            name, dataDir, peer, client, bootstrap, join, standby, snapshotEvery, maxRequest, quota, chunk, election, verbose,
        };
        Common.Run(cmd, async (pr, ct) =>
        {
            var options = new NodeOptions
            {
                Name = pr.GetValue(name)!,
                DataDir = pr.GetValue(dataDir)!,
                PeerAddress = Endpoints.Parse(pr.GetValue(peer)!),
                ClientAddress = Endpoints.Parse(pr.GetValue(client)!),
                Token = Common.ResolveToken(pr),
                Bootstrap = pr.GetValue(bootstrap),
                Standby = pr.GetValue(standby),
                Join = pr.GetValue(join) is { } j ? Endpoints.ParseList(j) : [],
                SnapshotEvery = Positive(pr.GetValue(snapshotEvery), "--snapshot-every"),
                MaxRequestBytes = Positive(pr.GetValue(maxRequest), "--max-request-bytes"),
                QuotaBytes = pr.GetValue(quota),
                WalChunkSize = (int)Positive(pr.GetValue(chunk), "--wal-chunk-size"),
                ElectionTimeoutMs = (int)Positive(pr.GetValue(election), "--election-timeout"),
                Verbose = pr.GetValue(verbose),
            };
            var fresh = !File.Exists(Path.Combine(options.DataDir, "members"));
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; Stop(stop); });
            using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; Stop(stop); });
            try
            {
                Directory.CreateDirectory(options.DataDir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new KvException($"cannot create data directory {options.DataDir}");
            }

            await using var node = new KvNode(options);
            await node.StartAsync(stop.Token);
            await using var server = new KvServer(node);
            server.Start();
            Console.WriteLine($"tinyokv: {options.Name} serving clients on {Endpoints.Format(options.ClientAddress)}, peers on {Endpoints.Format(options.PeerAddress)}");
            if (fresh && !options.Bootstrap && options.Join.Count > 0)
                await AnnounceAsync(options, stop.Token);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
            Console.WriteLine($"tinyokv: {options.Name} stopping");
            return 0;
        });
        return cmd;
    }

    private static void Stop(CancellationTokenSource stop)
    {
        try
        {
            stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // a second signal while shutting down
        }
    }

    private static long Positive(long v, string flag) => v > 0 ? v : throw new KvException($"{flag} must be positive");

    /// <summary>Asks the running group to add this (empty, started) member; retries while the group is busy.</summary>
    private static async Task AnnounceAsync(NodeOptions options, CancellationToken ct)
    {
        await using var client = new KvClient(new KvClientOptions { Endpoints = options.Join, Token = options.Token });
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                await client.MemberAddAsync(Endpoints.Format(options.PeerAddress), ct);
                Console.WriteLine($"tinyokv: {options.Name} joined the group");
                return;
            }
            catch (KvException e) when (DateTime.UtcNow < deadline)
            {
                Console.Error.WriteLine($"tinyokv: join: {e.Message}; retrying");
                await Task.Delay(1000, ct);
            }
        }
    }
}
