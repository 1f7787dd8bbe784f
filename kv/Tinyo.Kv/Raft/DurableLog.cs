using DotNext.IO.Log;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;

namespace Tinyo.Kv.Raft;

/// <summary>
/// DotNext's <see cref="WriteAheadLog"/> with one change: a follower acknowledges an AppendEntries only once the
/// entries it appended are on disk. DotNext 6.12 keeps every flushed entry across a restart (its checkpoint records
/// the last flushed index, not only the commit index) and commits an index only after flushing through it, but its
/// follower path (<c>RaftCluster.AppendEntriesAsync</c>: append, commit the leader's commit index, reply) answers
/// before the new entries are flushed. The leader would then count a follower's copy toward the majority while it
/// was still only in memory, and kill -9 of every member could lose an acknowledged write.
/// Raft calls the producer form of <see cref="IAuditTrail{TEntry}.AppendAsync{TEntryImpl}(ILogEntryProducer{TEntryImpl}, long, bool, CancellationToken)"/>
/// only on that follower path (the leader appends single entries, a snapshot goes through the indexed form), so
/// this class re-implements that one interface method: append, then wait until the flusher has written and
/// checkpointed everything appended so far. With it, a follower's success reply for index N means "entries up to N
/// survive kill -9 here", as etcd's followers fsync before they answer, and the leader needs no second round.
/// </summary>
/// <remarks>
/// The flush-completion event behind <see cref="WriteAheadLog.FlushAsync"/> and the slow path of
/// <see cref="WriteAheadLog.CommitAsync"/> takes one waiter at a time (a second one corrupts it). Follower appends
/// and commits are already serialised by Raft's transition lock, and the leader commits from its replication loop;
/// <see cref="gate"/> makes that explicit, so no two of them ever wait on the event at once, whatever the role change.
/// </remarks>
internal sealed class DurableLog(WriteAheadLog.Options options, IStateMachine stateMachine)
    : WriteAheadLog(options, stateMachine), IPersistentState, IAuditTrail<IRaftLogEntry>, IAuditTrail
{
    private readonly SemaphoreSlim gate = new(1, 1);

    /// <summary>Appends a follower's entries and returns only once they are flushed and checkpointed.</summary>
    async ValueTask IAuditTrail<IRaftLogEntry>.AppendAsync<TEntry>(ILogEntryProducer<TEntry> entries, long startIndex, bool skipCommitted, CancellationToken token)
    {
        await AppendAsync(entries, startIndex, skipCommitted, token).ConfigureAwait(false);
        // Also with no entries (a heartbeat): the reply says "I hold up to prevLogIndex", which must be on disk too,
        // e.g. entries appended by an earlier request whose flush wait was cancelled. Already flushed: returns at once.
        await gate.WaitAsync(token).ConfigureAwait(false);
        try
        {
            await FlushAsync(token).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Commits through <paramref name="endIndex"/> (DotNext flushes through it first), one caller at a time.</summary>
    async ValueTask<long> IAuditTrail.CommitAsync(long endIndex, CancellationToken token)
    {
        await gate.WaitAsync(token).ConfigureAwait(false);
        try
        {
            return await CommitAsync(endIndex, token).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) gate.Dispose();
    }
}
