using System.Diagnostics;

namespace Tinyo.Node.Cluster;

/// <summary>
/// Fencing on a partition (issue 14): whether this node must stop running its replicas because its liveness lease
/// may have expired in the KV — a node cut off from the KV majority cannot renew, the others see its lease expire and
/// start its replicas elsewhere, and it must not keep a second copy running.
/// </summary>
/// <remarks>
/// The node cannot ask the KV (it is cut off), so it decides on its own clock: a renewal sent at <c>t</c> (grant or
/// keep-alive, counted from the moment the request left, not when the answer came) that the KV answered with a TTL of
/// <c>T</c> keeps the lease at least until <c>t + T</c> — tinyokv never expires a lease early, even across a leader
/// change (a new leader restarts every lease's clock at its full TTL). The fence closes <see cref="Margin"/> before
/// that (<c>t + T − m</c>), so the node's stop begins before the others can have seen the lease expire; it opens again
/// at the next renewal that succeeds. Before the first renewal there is nothing to fence: a starting node touches no
/// replica until placement has read its assignments. A pure clock-and-deadline object (timestamps from
/// <see cref="Stopwatch.GetTimestamp"/>), tested on its own.
/// </remarks>
/// <param name="margin">How long before the lease's earliest expiry the fence closes (<see cref="MarginFor"/>).</param>
public sealed class LeaseFence(TimeSpan margin)
{
    private readonly Lock gate = new();
    private long validUntil;
    private bool held;

    /// <summary>How long before the lease's earliest expiry the fence closes.</summary>
    public TimeSpan Margin { get; } = margin;

    /// <summary>The margin for a lease of <paramref name="ttl"/>: a fifth of it (1 s for the default 5 s lease, 0.6 s
    /// for the tests' 3 s), enough to begin stopping before the others have noticed, small enough that one slow
    /// renewal of a healthy node does not fence it.</summary>
    public static TimeSpan MarginFor(TimeSpan ttl) => ttl / 5;

    /// <summary>True once a renewal has succeeded (before that the node is never fenced).</summary>
    public bool Held
    {
        get
        {
            lock (gate) return held;
        }
    }

    /// <summary>Records a renewal that succeeded: sent at <paramref name="sentAt"/>, the KV answered a TTL of
    /// <paramref name="ttl"/>. A late answer to an older request never shortens the deadline.</summary>
    public void Renewed(long sentAt, TimeSpan ttl)
    {
        if (ttl <= TimeSpan.Zero) return;
        var until = sentAt + (long)(ttl.TotalSeconds * Stopwatch.Frequency);
        lock (gate)
        {
            if (!held || until > validUntil) validUntil = until;
            held = true;
        }
    }

    /// <summary>Whether the node must not run replicas at <paramref name="now"/>: its lease may expire within the margin.</summary>
    public bool IsFenced(long now)
    {
        lock (gate) return held && now >= validUntil - (long)(Margin.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>Time left at <paramref name="now"/> before the fence closes (negative once closed; max when not held).</summary>
    public TimeSpan Remaining(long now)
    {
        lock (gate)
        {
            if (!held) return TimeSpan.MaxValue;
            return TimeSpan.FromSeconds((validUntil - now) / (double)Stopwatch.Frequency) - Margin;
        }
    }
}
