namespace Tinyo.Node.Reconcile;

/// <summary>
/// Which replicas this node runs (issue 14): the one question the reconciler asks of placement. Without one
/// (<see cref="ReconcilerOptions.Placement"/> null: a node set up without a cluster address) the node runs every
/// replica, as a single node always did.
/// </summary>
public interface IReplicaPlacement
{
    /// <summary>False until the assignments were read once: until then the reconciler leaves containers as they are
    /// (neither starts nor stops any), so a node restarting never stops a replica it still owns.</summary>
    bool Known { get; }

    /// <summary>Whether replica <paramref name="index"/> (1-based) of <paramref name="app"/> is assigned to this node.</summary>
    bool Owns(string app, int index);

    /// <summary>Set while this node is fenced (its liveness lease may have expired: cut off from the KV majority, the
    /// others are starting its replicas): how long a copy being stopped gets between SIGTERM and SIGKILL — shorter than
    /// the usual stop grace, so the copy is gone before the others can start theirs. Null when not fenced.</summary>
    TimeSpan? FencedStopGrace => null;
}
