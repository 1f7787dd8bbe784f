using System.Collections.Concurrent;
using System.Net;
using DotNext.Net.Cluster;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Microsoft.Extensions.Logging;
using Tinyo.Kv.Leases;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Raft;

/// <summary>
/// One member of the Raft group: DotNext's <see cref="RaftCluster"/> over TCP, a <see cref="WriteAheadLog"/>
/// with 1 MiB chunks whose followers acknowledge only flushed entries (<see cref="DurableLog"/>), the
/// <see cref="KvStateMachine"/> and lease expiry. Data directory
/// layout: <c>wal/</c> (DotNext WAL), <c>snapshots/</c>, <c>members</c> (membership).
/// </summary>
public sealed class KvNode : IAsyncDisposable
{
    private const string ClientKey = "client", NameKey = "name", StandbyKey = "standby";
    private readonly ConcurrentDictionary<EndPoint, IReadOnlyDictionary<string, string>> metadata = new();
    private readonly CancellationTokenSource lifetime = new();
    private readonly TaskCompletionSource left = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim leaving = new(1, 1);
    private long leaderChanges; // times this member saw the leader change (an election won, lost, or a leader lost)
    private RaftCluster? cluster;
    private WriteAheadLog? wal;
    private MemberStorage? members;
    private Watch.WatchHub? watches;
    private ProposalBatcher? batcher;

    /// <summary>Creates a member; <see cref="StartAsync"/> starts it.</summary>
    public KvNode(NodeOptions options)
    {
        Options = options;
        Directory.CreateDirectory(options.DataDir);
        StateMachine = new KvStateMachine(Path.Combine(options.DataDir, "snapshots"), options.SnapshotEvery);
        Leases = new LeaseKeeper(this);
        Disk = new Storage.DiskSpace(options.DataDir, options.DiskReserveBytes > 0 ? options.DiskReserveBytes : Math.Max(8L << 20, 4L * options.WalChunkSize));
    }

    /// <summary>Free space of the data directory's disk: writes are refused before it runs out (see <see cref="Storage.DiskSpace"/>).</summary>
    public Storage.DiskSpace Disk { get; }

    /// <summary>The member's settings.</summary>
    public NodeOptions Options { get; }

    /// <summary>The state machine.</summary>
    public KvStateMachine StateMachine { get; }

    /// <summary>The replicated store.</summary>
    public KeyValueStore Store => StateMachine.Store;

    /// <summary>The Raft member.</summary>
    public RaftCluster Cluster => cluster ?? throw new InvalidOperationException("not started");

    /// <summary>The write-ahead log.</summary>
    public WriteAheadLog Wal => wal ?? throw new InvalidOperationException("not started");

    /// <summary>Recent history and live watchers.</summary>
    public Watch.WatchHub Watches => watches ?? throw new InvalidOperationException("not started");

    /// <summary>Lease expiry on the leader.</summary>
    public LeaseKeeper Leases { get; }

    /// <summary>Cancelled when the member stops.</summary>
    public CancellationToken Lifetime => lifetime.Token;

    /// <summary>Completes once this member has left the group (<see cref="LeaveAsync"/>): the process should stop.</summary>
    public Task Left => left.Task;

    /// <summary>True when this member leads.</summary>
    public bool IsLeader => cluster is { Leader: { IsRemote: false } };

    /// <summary>Restores the newest snapshot, opens the WAL (replaying committed entries) and joins the group.</summary>
    public async Task StartAsync(CancellationToken token)
    {
        StateMachine.Restore();
        watches = new Watch.WatchHub(Store, Options.WatchHistoryEvents); // before the WAL replays, so replayed revisions are watchable
        wal = new DurableLog(new WriteAheadLog.Options
        {
            Location = Path.Combine(Options.DataDir, "wal"),
            ChunkSize = Options.WalChunkSize,
            // Entries are staged in private memory and written to the chunk files with write(2), not through a shared
            // mapping of them: on a full disk a mapped page that the filesystem cannot back kills the process with
            // SIGBUS (reproduced on a 16 MiB tmpfs), whereas write(2) fails with ENOSPC. DiskSpace refuses writes
            // before that point; this is what keeps a disk filled by someone else between two checks from crashing us.
            MemoryManagement = Options.WalMemory,
        }, StateMachine);
        members = new MemberStorage(Path.Combine(Options.DataDir, "members"));
        var logLevel = Options.Verbose ? LogLevel.Information : LogLevel.Error; // warnings repeat every heartbeat while a peer is down
        var election = Options.ElectionTimeoutMs;
        var config = new RaftCluster.CustomTransportConfiguration(Options.PeerAddress,
            new PeerTransport.Acceptor(Options.Token, Options.PeerTls, Options.Standby), new PeerTransport.Connector(Options.Token, Options.PeerTls))
        {
            ConfigurationStorage = members,
            ColdStart = Options.Bootstrap,
            Standby = Options.Standby,
            LowerElectionTimeout = election,
            UpperElectionTimeout = election * 2,
            // One AppendEntries may carry a 64 MiB value, and its answer now waits for the follower's flush of it
            // (DurableLog): the timeout bounds a transfer plus a flush, not a heartbeat. At 10 s a loaded disk made the
            // leader give up on a 64 MiB append and send it again, over and over (SixtyFourMiBValueIsStoredAndReplicated).
            RequestTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(1),
            LoggerFactory = new StderrLoggerFactory(Options.Name, logLevel),
        };
        config.Metadata[ClientKey] = Endpoints.Format(Options.ClientAddress);
        config.Metadata[NameKey] = Options.Name;
        if (Options.Standby) config.Metadata[StandbyKey] = "true";
        cluster = new RaftCluster(config) { AuditTrail = wal };
        batcher = new ProposalBatcher(() => Cluster, Lifetime);
        cluster.LeaderChanged += (_, leader) =>
        {
            Interlocked.Increment(ref leaderChanges);
            Leases.OnLeaderChanged(leader is { IsRemote: false });
        };
        await cluster.StartAsync(token).ConfigureAwait(false);
        Leases.Start();
    }

    /// <summary>
    /// Replicates a command and returns the state machine's answer once the entry is applied here and on disk on
    /// a majority. Throws <see cref="NotLeaderException"/> when this member is not (or stops being) the leader.
    /// </summary>
    public async Task<byte[]> ProposeAsync(byte[] command, CancellationToken token)
    {
        var proposal = (batcher ?? throw new InvalidOperationException("not started")).Propose(command);
        // Applied here means committed, and a commit needs the entry on disk on a majority: DotNext flushes the
        // leader's copy before it commits, and a follower acknowledges only flushed entries (DurableLog).
        var (reply, _) = await proposal.Reply.WaitAsync(token).ConfigureAwait(false);
        return reply;
    }

    /// <summary>The leader's client address, empty if there is no leader or it is not known yet.</summary>
    public async ValueTask<string> LeaderClientAddressAsync(CancellationToken token)
    {
        if (cluster?.Leader is not { } leader) return "";
        if (!leader.IsRemote) return Endpoints.Format(Options.ClientAddress);
        return (await MetadataAsync(leader, token).ConfigureAwait(false)).GetValueOrDefault(ClientKey, "");
    }

    /// <summary>A member's metadata (name, client address), cached once known.</summary>
    public async ValueTask<IReadOnlyDictionary<string, string>> MetadataAsync(IClusterMember member, CancellationToken token)
    {
        if (!member.IsRemote)
        {
            var own = new Dictionary<string, string> { [ClientKey] = Endpoints.Format(Options.ClientAddress), [NameKey] = Options.Name };
            if (Options.Standby) own[StandbyKey] = "true";
            return own;
        }
        if (metadata.TryGetValue(member.EndPoint, out var md)) return md;
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
            cts.CancelAfter(TimeSpan.FromSeconds(1));
            md = await member.GetMetadataAsync(false, cts.Token).ConfigureAwait(false);
            metadata[member.EndPoint] = md;
            return md;
        }
        catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
        {
            return new Dictionary<string, string>();
        }
    }

    /// <summary>The member list as this member sees it.</summary>
    public async Task<List<MemberInfo>> MembersAsync(CancellationToken token)
    {
        var list = new List<MemberInfo>();
        var leader = Cluster.Leader;
        foreach (var m in Cluster.Members)
        {
            var md = await MetadataAsync(m, token).ConfigureAwait(false);
            var status = m.IsRemote ? m.Status switch
            {
                ClusterMemberStatus.Available => "available",
                ClusterMemberStatus.Unavailable => "unavailable",
                _ => "unknown",
            } : "available";
            list.Add(new(md.GetValueOrDefault(NameKey, ""), Endpoints.Format(m.EndPoint), md.GetValueOrDefault(ClientKey, ""),
                leader is not null && Equals(leader.EndPoint, m.EndPoint), status, md.ContainsKey(StandbyKey)));
        }
        return list;
    }

    /// <summary>The member's status.</summary>
    public async Task<StatusInfo> StatusAsync(CancellationToken token)
    {
        var view = Store.Current;
        var leader = Cluster.Leader;
        var role = IsLeader ? "leader" : Options.Standby ? "standby" : leader is null ? "candidate" : "follower";
        return new StatusInfo(Options.Name, Endpoints.Format(Options.PeerAddress), Endpoints.Format(Options.ClientAddress), role,
            await LeaderClientAddressAsync(token).ConfigureAwait(false), Cluster.Term, view.Revision, view.CompactRevision,
            view.AppliedIndex, Wal.LastCommittedEntryIndex, StateMachine.SnapshotIndex, view.Count, Options.Standby,
            StateMachine.SnapshotsInstalled, Interlocked.Read(ref leaderChanges));
    }

    /// <summary>
    /// Graceful leave: this member stops standing for election (DotNext standby mode; a leader thereby steps
    /// down and the others elect a new leader among themselves), asks the new leader to remove it from the
    /// configuration, and completes <see cref="Left"/>. The remaining members then count their quorum without it.
    /// On failure the member returns to normal mode and the error is thrown.
    /// </summary>
    public async Task LeaveAsync(CancellationToken token)
    {
        await leaving.WaitAsync(token).ConfigureAwait(false);
        try
        {
            if (left.Task.IsCompleted) return;
            var self = Endpoints.Format(Options.PeerAddress);
            if (Cluster.Members.Count(m => m.IsRemote) == 0)
                throw new KvServerException(ErrorCode.MembershipFailed, "the last member cannot leave: stop it instead");
            var wasStandby = Cluster.Standby;
            await Cluster.EnableStandbyModeAsync(token).ConfigureAwait(false);
            try
            {
                // Wait for a leader other than this member (a leader that just stepped down: a new election).
                var deadline = DateTime.UtcNow.AddSeconds(15);
                string leader;
                while ((leader = await OtherLeaderClientAddressAsync(token).ConfigureAwait(false)).Length == 0)
                {
                    if (DateTime.UtcNow > deadline)
                        throw new KvServerException(ErrorCode.MembershipFailed, "no other member became leader within 15 s: is a quorum of the others running?");
                    await Task.Delay(50, token).ConfigureAwait(false);
                }
                await using var client = new Client.KvClient(new Client.KvClientOptions
                {
                    Endpoints = [Endpoints.Parse(leader)],
                    Token = Options.Token,
                    Tls = Options.MemberClientTls,
                    RequestTimeout = TimeSpan.FromSeconds(30),
                });
                await client.MemberRemoveAsync(self, token).ConfigureAwait(false);
            }
            catch when (!wasStandby)
            {
                await Cluster.RevertToNormalModeAsync(CancellationToken.None).ConfigureAwait(false);
                throw;
            }
            left.TrySetResult();
        }
        finally
        {
            leaving.Release();
        }
    }

    private async ValueTask<string> OtherLeaderClientAddressAsync(CancellationToken token)
        => Cluster.Leader is { IsRemote: true } ? await LeaderClientAddressAsync(token).ConfigureAwait(false) : "";

    /// <summary>Stops serving: leaves Raft, stops background work, closes the WAL.</summary>
    public async ValueTask DisposeAsync()
    {
        await lifetime.CancelAsync().ConfigureAwait(false);
        await Leases.DisposeAsync().ConfigureAwait(false);
        if (cluster is not null)
        {
            await cluster.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await cluster.DisposeAsync().ConfigureAwait(false);
        }
        if (wal is not null) await wal.DisposeAsync().ConfigureAwait(false);
        await StateMachine.DisposeAsync().ConfigureAwait(false);
        members?.Dispose();
        lifetime.Dispose();
        leaving.Dispose();
    }
}
