using System.CommandLine;
using System.Runtime.InteropServices;
using Tinyo.Kv.Client;
using Tinyo.Linux;
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
        var peer = new Option<string>("--listen-peer") { Description = "Raft address ip:port (the member's identity; a learner's once promoted, which it needs to be promotable)", DefaultValueFactory = _ => "127.0.0.1:2380" };
        var client = new Option<string>("--listen-client") { Description = "Client address ip:port", DefaultValueFactory = _ => "127.0.0.1:2379" };
        var bootstrap = new Option<bool>("--bootstrap") { Description = "Start a new one-member group if the data dir is empty" };
        var join = new Option<string?>("--join") { Description = "Client addresses of a running group: ask it to add this member (a learner: the members it copies and follows)" };
        var standby = new Option<bool>("--standby") { Description = "Never stand for election (still votes and counts in the quorum: see README)" };
        var learner = new Option<bool>("--learner") { Description = "Run a learner: a read-only copy of the group at --join, not a Raft member (no vote, not in the quorum)" };
        var snapshotEvery = new Option<long>("--snapshot-every") { Description = "Writes applied between snapshots (log entries; each write of a batched entry counts); a learner: revisions between saves of its copy", DefaultValueFactory = _ => 50_000 };
        var maxRequest = new Option<long>("--max-request-bytes") { Description = "Largest request accepted", DefaultValueFactory = _ => 96L << 20 };
        var quota = new Option<long>("--quota-bytes") { Description = "Optional quota on keys+values bytes (0: none)" };
        var chunk = new Option<int>("--wal-chunk-size") { Description = "WAL chunk size, bytes", DefaultValueFactory = _ => 1 << 20 };
        var walMemory = new Option<string>("--wal-memory") { Description = "How the WAL stages entries: private (memory written with write(2); a full disk gives ENOSPC) or shared (DotNext's mapping of the chunk files)", DefaultValueFactory = _ => "private" };
        var watchHistory = new Option<long>("--watch-history") { Description = "Events held for watches to resume from and for get --rev (also bounded to 32 MiB)", DefaultValueFactory = _ => Tinyo.Kv.Watch.WatchHub.DefaultMaxEvents };
        var election = new Option<int>("--election-timeout") { Description = "Election timeout (ms, lower bound; upper is twice)", DefaultValueFactory = _ => 300 };
        var verbose = new Option<bool>("--verbose") { Description = "Log Raft events" };
        var idleTrim = new Option<double>("--idle-trim") { Description = "Seconds of quiet after work before memory is given back (a full GC, cold code paged out); 0: never", DefaultValueFactory = _ => 10 };
        var leaveOnStop = new Option<bool>("--leave-on-stop") { Description = "On SIGTERM/SIGINT, leave the group (step down, get removed) before stopping" };
        var certFile = new Option<string?>("--cert-file") { Description = "Client port TLS: this member's certificate (PEM)" };
        var keyFile = new Option<string?>("--key-file") { Description = "Client port TLS: its private key (PEM)" };
        var caFile = new Option<string?>("--trusted-ca-file") { Description = "Client port TLS: CA bundle (PEM) that signs client certificates" };
        var clientCertAuth = new Option<bool>("--client-cert-auth") { Description = "Refuse clients without a certificate signed by --trusted-ca-file" };
        var peerCertFile = new Option<string?>("--peer-cert-file") { Description = "Peer TLS: this member's certificate (PEM), presented to and by peers" };
        var peerKeyFile = new Option<string?>("--peer-key-file") { Description = "Peer TLS: its private key (PEM)" };
        var peerCaFile = new Option<string?>("--peer-trusted-ca-file") { Description = "Peer TLS: CA bundle (PEM) that signs the members' certificates" };
        var peerClientCertAuth = new Option<bool>("--peer-client-cert-auth") { Description = "Refuse peers without a certificate signed by --peer-trusted-ca-file" };
        var cmd = new Command("serve", "Run a member of a tinyokv group")
        {
            name, dataDir, peer, client, bootstrap, join, standby, learner, snapshotEvery, maxRequest, quota, chunk, walMemory, watchHistory, election, verbose, idleTrim, leaveOnStop,
            certFile, keyFile, caFile, clientCertAuth, peerCertFile, peerKeyFile, peerCaFile, peerClientCertAuth,
        };
        Common.Run(cmd, async (pr, ct) =>
        {
            // Its log may sit on a full disk: lines are dropped and counted there rather than ending the member.
            Console.SetError(new Tinyo.Linux.DaemonLog(2, "tinyokv"));
            Console.SetOut(new Tinyo.Linux.DaemonLog(1, "tinyokv"));
            NodeOptions MemberOptions(string dir) => new()
            {
                Name = pr.GetValue(name)!,
                DataDir = dir,
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
                WalMemory = pr.GetValue(walMemory) switch
                {
                    "private" => DotNext.Net.Cluster.Consensus.Raft.StateMachine.WriteAheadLog.MemoryManagementStrategy.PrivateMemory,
                    "shared" => DotNext.Net.Cluster.Consensus.Raft.StateMachine.WriteAheadLog.MemoryManagementStrategy.SharedMemory,
                    var other => throw new KvException($"--wal-memory must be private or shared, not '{other}'"),
                },
                WatchHistoryEvents = Positive(pr.GetValue(watchHistory), "--watch-history"),
                ElectionTimeoutMs = (int)Positive(pr.GetValue(election), "--election-timeout"),
                Verbose = pr.GetValue(verbose),
                ClientTls = KvServerTls.Load(pr.GetValue(certFile), pr.GetValue(keyFile), pr.GetValue(caFile), pr.GetValue(clientCertAuth)),
                PeerTls = PeerTls(pr.GetValue(peerCertFile), pr.GetValue(peerKeyFile), pr.GetValue(peerCaFile), pr.GetValue(peerClientCertAuth)),
            };
            var trimAfter = pr.GetValue(idleTrim);
            if (!(trimAfter == 0 || trimAfter is >= 1 and <= 86400))
                throw new KvException("--idle-trim must be 0 (never) or between 1 and 86400 seconds");

            if (pr.GetValue(learner))
            {
                foreach (var (flag, given) in new (string, bool)[]
                {
                    ("--bootstrap", pr.GetValue(bootstrap)), ("--standby", pr.GetValue(standby)), ("--leave-on-stop", pr.GetValue(leaveOnStop)),
                })
                {
                    if (given) throw new KvException($"--learner does not take {flag}: a learner is not a Raft member");
                }
                if (pr.GetValue(join) is not { } learnerJoin) throw new KvException("--learner needs --join with the client addresses of the group's members");
                // --listen-peer makes the learner promotable: its member (once promoted) lives in DATA/member.
                var promotable = pr.GetResult(peer) is { Implicit: false };
                var promoteAs = promotable ? MemberOptions(Path.Combine(pr.GetValue(dataDir)!, "member")) : null;
                if (promoteAs is not null && File.Exists(Path.Combine(promoteAs.DataDir, "members")))
                {
                    Console.WriteLine($"tinyokv: {promoteAs.Name} was promoted from a learner: running as the member in {promoteAs.DataDir}");
                    return await RunMemberAsync(promoteAs, leaveOnStop: false, announce: false, trimAfter, ct);
                }
                return await LearnerServe.RunAsync(new Tinyo.Kv.Learner.LearnerOptions
                {
                    Name = pr.GetValue(name)!,
                    DataDir = pr.GetValue(dataDir)!,
                    ClientAddress = Endpoints.Parse(pr.GetValue(client)!),
                    Token = Common.ResolveToken(pr),
                    Join = Endpoints.ParseList(learnerJoin),
                    SnapshotEvery = Positive(pr.GetValue(snapshotEvery), "--snapshot-every"),
                    MaxRequestBytes = Positive(pr.GetValue(maxRequest), "--max-request-bytes"),
                    ClientTls = KvServerTls.Load(pr.GetValue(certFile), pr.GetValue(keyFile), pr.GetValue(caFile), pr.GetValue(clientCertAuth)),
                    PromoteAs = promoteAs,
                }, ct);
            }
            var options = MemberOptions(pr.GetValue(dataDir)!);
            var fresh = !File.Exists(Path.Combine(options.DataDir, "members"));
            return await RunMemberAsync(options, pr.GetValue(leaveOnStop), fresh && !options.Bootstrap && options.Join.Count > 0, trimAfter, ct);
        });
        return cmd;
    }

    /// <summary>Runs a member until a signal, or until it has left the group.</summary>
    private static async Task<int> RunMemberAsync(NodeOptions options, bool leaveOnStop, bool announce, double idleTrimSeconds, CancellationToken ct)
    {
        // Members also dial each other's client port (joining, durability checks) and must be able to verify
        // the certificates there: with a private CA, name it.
        if (options.ClientTls is { TrustedCa: null } ct1 && options.PeerTls?.TrustedCa is null && !ct1.ChainsToSystemRoots())
            throw new KvException("--cert-file is not signed by a CA this system trusts: give its CA with --trusted-ca-file " +
                                  "(members connect to each other's client port and verify it)");
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
        // An idle member's RSS is mostly start-up's pages: give them back once quiet (Linux/IdleTrim.cs).
        using var trim = idleTrimSeconds > 0 ? new IdleTrim(TimeSpan.FromSeconds(idleTrimSeconds), m => Console.WriteLine($"tinyokv: {m}")) : null;
        Console.WriteLine($"tinyokv: {options.Name} serving clients on {Endpoints.Format(options.ClientAddress)}, peers on {Endpoints.Format(options.PeerAddress)}");
        if (announce) await AnnounceAsync(options, stop.Token);
        return await ServeUntilStoppedAsync(node, leaveOnStop, stop.Token);
    }

    /// <summary>A started member with its server: runs until <paramref name="stop"/>, or until it has left the group.</summary>
    internal static async Task<int> ServeUntilStoppedAsync(KvNode node, bool leaveOnStop, CancellationToken stop)
    {
        var options = node.Options;
        // Runs until a signal, or until the member has left the group (`tinyokv member leave`).
        await Task.WhenAny(Task.Delay(Timeout.Infinite, stop), node.Left);
        if (node.Left.IsCompleted)
        {
            Console.WriteLine($"tinyokv: {options.Name} left the group; stopping (its data dir no longer belongs to the group)");
            await Task.Delay(200, CancellationToken.None); // let the answer to `member leave` reach the client
            return 0;
        }
        if (leaveOnStop)
        {
            try
            {
                using var leaveTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await node.LeaveAsync(leaveTimeout.Token);
                Console.WriteLine($"tinyokv: {options.Name} left the group");
            }
            catch (Exception e) when (e is KvException or OperationCanceledException or DotNext.Net.Cluster.Consensus.Raft.NotLeaderException)
            {
                Console.Error.WriteLine($"tinyokv: {options.Name} could not leave the group: {e.Message}");
            }
        }
        Console.WriteLine($"tinyokv: {options.Name} stopping");
        return 0;
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

    /// <summary>Peer TLS checks the other member's certificate in both directions, so it needs the peer CA.</summary>
    private static KvServerTls? PeerTls(string? cert, string? key, string? ca, bool clientCertAuth)
    {
        var tls = KvServerTls.Load(cert, key, ca, clientCertAuth, "peer-");
        if (tls is not null && ca is null) throw new KvException("--peer-cert-file needs --peer-trusted-ca-file (members verify each other's certificates)");
        return tls;
    }

    private static long Positive(long v, string flag) => v > 0 ? v : throw new KvException($"{flag} must be positive");

    /// <summary>Asks the running group to add this (empty, started) member; retries while the group is busy.</summary>
    private static async Task AnnounceAsync(NodeOptions options, CancellationToken ct)
    {
        await using var client = new KvClient(new KvClientOptions { Endpoints = options.Join, Token = options.Token, Tls = options.MemberClientTls });
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                await client.MemberAddAsync(Endpoints.Format(options.PeerAddress), options.Standby, ct);
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
