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
/// only on that follower path (the leader appends single entries, a snapshot goes through the indexed form), and
/// always follows it with <see cref="IAuditTrail.CommitAsync(long, CancellationToken)"/> before it replies. So the
/// append marks the log as owing a flush, and the commit that follows first commits (in memory) and then waits
/// until the flusher has written and checkpointed everything appended so far. With it, a follower's success reply
/// for index N means "entries up to N survive kill -9 here", as etcd's followers fsync before they answer, and the
/// leader needs no second round.
/// </summary>
/// <remarks>
/// <para>Why the wait sits in the commit and not in the append: DotNext's flusher writes the pages (data and
/// metadata, <c>O_SYNC</c>, in parallel) and then the checkpoint (also <c>O_SYNC</c>), and a commit that moves the
/// commit index wakes it for one more checkpoint write. Waiting in the append meant the commit came after the
/// flush, so every round cost a follower three synchronous stages: pages, checkpoint, and the commit's own
/// checkpoint, which the next AppendEntries then waited behind. Committing first lets one pass write the pages and
/// a checkpoint that names both the new last index and the new commit index: two stages per round.</para>
/// <para>The flush-completion event behind <see cref="WriteAheadLog.FlushAsync"/> and the slow path of
/// <see cref="WriteAheadLog.CommitAsync"/> takes one waiter at a time (a second one corrupts it). Follower appends
/// and commits are already serialised by Raft's transition lock, and the leader commits from its replication loop;
/// <see cref="gate"/> makes that explicit, so no two of them ever wait on the event at once, whatever the role change.</para>
/// </remarks>
internal sealed class DurableLog(WriteAheadLog.Options options, IStateMachine stateMachine)
    : WriteAheadLog(options, stateMachine), IPersistentState, IAuditTrail<IRaftLogEntry>, IAuditTrail
{
    private readonly SemaphoreSlim gate = new(1, 1);

    /// <summary>Set by a follower's append, cleared by the commit that flushes for it.</summary>
    private volatile bool owesFlush;

    /// <summary>Appends a follower's entries; the commit Raft makes next returns only once they are on disk.</summary>
    async ValueTask IAuditTrail<IRaftLogEntry>.AppendAsync<TEntry>(ILogEntryProducer<TEntry> entries, long startIndex, bool skipCommitted, CancellationToken token)
    {
        // Set before appending: an append that fails half-way still leaves what it wrote for the next commit to flush.
        // Also with no entries (a heartbeat): the reply says "I hold up to prevLogIndex", which must be on disk too,
        // e.g. entries appended by an earlier request whose flush wait was cancelled. Already flushed: no wait.
        owesFlush = true;
        await AppendAsync(entries, startIndex, skipCommitted, token).ConfigureAwait(false);
    }

    /// <summary>
    /// Commits through <paramref name="endIndex"/> (DotNext flushes through it first), then, after a follower's
    /// append, waits until everything appended is flushed and checkpointed; one caller at a time.
    /// </summary>
    async ValueTask<long> IAuditTrail.CommitAsync(long endIndex, CancellationToken token)
    {
        await gate.WaitAsync(token).ConfigureAwait(false);
        try
        {
            var committed = await CommitAsync(endIndex, token).ConfigureAwait(false);
            if (owesFlush)
            {
                owesFlush = false;
                try
                {
                    await FlushAsync(token).ConfigureAwait(false);
                }
                catch
                {
                    owesFlush = true; // no success reply goes out; the next follower commit waits again
                    throw;
                }
            }
            return committed;
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
