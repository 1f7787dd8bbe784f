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
}
