using System.Net;
using Tinyo.Kv.Client;
using Tinyo.Kv.Server;

namespace Tinyo.Kv.Learner;

/// <summary>How a learner runs (<c>tinyokv serve --learner</c>).</summary>
public sealed class LearnerOptions
{
    /// <summary>The learner's name: its registration key and its entry in member lists.</summary>
    public required string Name { get; init; }

    /// <summary>Directory for the learner's copy of the store (<c>learner.snap</c>).</summary>
    public required string DataDir { get; init; }

    /// <summary>Client protocol address the learner serves on.</summary>
    public required IPEndPoint ClientAddress { get; init; }

    /// <summary>The shared cluster token: presented to the cluster and required from the learner's clients.</summary>
    public required string Token { get; init; }

    /// <summary>Client addresses of the cluster's members: the learner copies and follows whichever answers.</summary>
    public required IReadOnlyList<IPEndPoint> Join { get; init; }

    /// <summary>Revisions applied between two saves of the local copy (a restart resumes from the last save).</summary>
    public long SnapshotEvery { get; init; } = 50_000;

    /// <summary>Largest request body accepted.</summary>
    public long MaxRequestBytes { get; init; } = 96L << 20;

    /// <summary>TLS on the learner's client port; null for plain TCP.</summary>
    public KvServerTls? ClientTls { get; init; }

    /// <summary>
    /// How this learner runs once promoted to a voting member (<c>member promote</c>): a member with its own data
    /// directory (<c>DATA/member</c>) and peer address. Null when the learner was started without
    /// <c>--listen-peer</c>: it cannot be promoted then.
    /// </summary>
    public Raft.NodeOptions? PromoteAs { get; init; }

    /// <summary>TLS for the learner's connections to the members (trusts the client CA, presents the client-port certificate).</summary>
    public KvClientTls? ClusterTls { get => field ??= ClientTls?.AsClient(null); }
}
