namespace Tinyo.Kv.Protocol;

/// <summary>One member of the Raft group as the answering member sees it.</summary>
/// <param name="Name">The member's name (its --name).</param>
/// <param name="PeerAddress">Raft address.</param>
/// <param name="ClientAddress">Client address, empty if unknown (member unreachable).</param>
/// <param name="IsLeader">True for the leader.</param>
/// <param name="Status">"available", "unavailable" or "unknown".</param>
/// <param name="Standby">A standby member: never stands for election, but votes and counts in the quorum.</param>
/// <param name="Learner">
/// A learner: not a Raft member at all (no peer address, no vote, not in the quorum); a read-only copy that
/// registered itself (see <c>LearnerRegistry</c>). Learners travel in their own section after the
/// members (name and client address), so a list decoded by an older client simply ends before them.
/// </param>
public sealed record MemberInfo(string Name, string PeerAddress, string ClientAddress, bool IsLeader, string Status, bool Standby = false,
    bool Learner = false)
{
    /// <summary>Encodes the record.</summary>
    public void Encode(ref WireWriter w)
    {
        w.String(Name);
        w.String(PeerAddress);
        w.String(ClientAddress);
        w.Bool(IsLeader);
        w.String(Status);
        w.Bool(Standby);
    }

    /// <summary>Decodes the record.</summary>
    public static MemberInfo Decode(ref WireReader r) => new(r.String(), r.String(), r.String(), r.Bool(), r.String(), r.Bool());
}

/// <summary>A member's view of itself and the cluster. <see cref="LeaderChanges"/> (how often this member saw the
/// leader change since it started) came last: a member older than it sends none, read as 0.</summary>
public sealed record StatusInfo(string Name, string PeerAddress, string ClientAddress, string Role, string Leader, long Term,
    long Revision, long CompactRevision, long AppliedIndex, long CommitIndex, long SnapshotIndex, long Keys, bool Standby,
    long SnapshotsInstalled = 0, long LeaderChanges = 0)
{
    /// <summary>Encodes the record.</summary>
    public void Encode(ref WireWriter w)
    {
        w.String(Name);
        w.String(PeerAddress);
        w.String(ClientAddress);
        w.String(Role);
        w.String(Leader);
        w.Var(Term);
        w.Var(Revision);
        w.Var(CompactRevision);
        w.Var(AppliedIndex);
        w.Var(CommitIndex);
        w.Var(SnapshotIndex);
        w.Var(Keys);
        w.Bool(Standby);
        w.Var(SnapshotsInstalled);
        w.Var(LeaderChanges);
    }

    /// <summary>Decodes the record.</summary>
    public static StatusInfo Decode(ref WireReader r) => new(r.String(), r.String(), r.String(), r.String(), r.String(),
        r.Var(), r.Var(), r.Var(), r.Var(), r.Var(), r.Var(), r.Var(), r.Bool(), r.Var(), r.Remaining > 0 ? r.Var() : 0);
}
