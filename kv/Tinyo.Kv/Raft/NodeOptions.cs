using System.Net;
using Tinyo.Kv.Client;
using Tinyo.Kv.Server;

namespace Tinyo.Kv.Raft;

/// <summary>How a tinyokv member runs (the `serve` command's flags).</summary>
public sealed class NodeOptions
{
    /// <summary>The member's name, shown in member lists.</summary>
    public required string Name { get; init; }

    /// <summary>Directory for the WAL, snapshots and membership.</summary>
    public required string DataDir { get; init; }

    /// <summary>Raft (peer) address, also the member's identity in the group.</summary>
    public required IPEndPoint PeerAddress { get; init; }

    /// <summary>Client protocol address.</summary>
    public required IPEndPoint ClientAddress { get; init; }

    /// <summary>The shared cluster token clients and peers must present.</summary>
    public required string Token { get; init; }

    /// <summary>Start a new single-member group when the data directory has no membership yet.</summary>
    public bool Bootstrap { get; init; }

    /// <summary>Never stand for election (DotNext standby).</summary>
    public bool Standby { get; init; }

    /// <summary>Client addresses of a running group to ask for membership on first start.</summary>
    public IReadOnlyList<IPEndPoint> Join { get; init; } = [];

    /// <summary>WAL chunk size; 1 MiB measured ~2× faster than DotNext's default of one page.</summary>
    public int WalChunkSize { get; init; } = 1 << 20;

    /// <summary>
    /// How the WAL stages entries before they are written: private memory written with write(2) (the default: a full
    /// disk gives ENOSPC, not SIGBUS), or DotNext's shared mapping of the chunk files. The effect of each on RSS and
    /// the write rate is measured in docs/benchmarks.md section 5.
    /// </summary>
    public DotNext.Net.Cluster.Consensus.Raft.StateMachine.WriteAheadLog.MemoryManagementStrategy WalMemory { get; init; }
        = DotNext.Net.Cluster.Consensus.Raft.StateMachine.WriteAheadLog.MemoryManagementStrategy.PrivateMemory;

    /// <summary>
    /// Events the watch history holds (the window a watch can resume from and <c>get --rev</c> can read); the
    /// bytes it may hold are bounded too (<see cref="Watch.WatchHub.DefaultMaxBytes"/>).
    /// </summary>
    public long WatchHistoryEvents { get; init; } = Watch.WatchHub.DefaultMaxEvents;

    /// <summary>Writes applied between snapshots (a batched entry counts each of its commands).</summary>
    public long SnapshotEvery { get; init; } = 50_000;

    /// <summary>Largest request body accepted (values of 64 MiB and more fit by default).</summary>
    public long MaxRequestBytes { get; init; } = 96L << 20;

    /// <summary>Optional quota on keys+values bytes; 0 for none.</summary>
    public long QuotaBytes { get; init; }

    /// <summary>
    /// Free bytes kept on the data directory's disk: writes are refused (NoSpace) below this, deletes and compaction
    /// below half of it. 0: 4 WAL chunks, at least 8 MiB.
    /// </summary>
    public long DiskReserveBytes { get; init; }

    /// <summary>Election timeout range, milliseconds.</summary>
    public int ElectionTimeoutMs { get; init; } = 300;

    /// <summary>TLS on the client port; null for plain TCP.</summary>
    public KvServerTls? ClientTls { get; init; }

    /// <summary>
    /// TLS between members (the Raft port); null for plain TCP. The certificate is presented both when accepting
    /// and when connecting, and the other member's certificate must chain to its <see cref="KvServerTls.TrustedCa"/>
    /// and name the peer address dialled.
    /// </summary>
    public KvServerTls? PeerTls { get; init; }

    /// <summary>
    /// TLS for this member's own client connections to other members' client ports (joining, durability checks):
    /// it trusts the client CA (or the peer CA) and presents the client-port certificate, which therefore also
    /// needs the client-auth usage when client-cert-auth is on.
    /// </summary>
    public KvClientTls? MemberClientTls { get => field ??= ClientTls?.AsClient(PeerTls?.TrustedCa); }

    /// <summary>Log DotNext's informational messages too.</summary>
    public bool Verbose { get; init; }
}
