using DotNext.IO.Log;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Tinyo.Kv.Raft;

namespace Tinyo.Kv.Tests.Raft;

/// <summary>
/// <see cref="DurableLog"/> in-process: what Raft's follower path appends is on disk when its append and the commit
/// that follows it have returned, i.e. when the follower would send its acknowledgement. "On disk" is checked the way a kill -9 sees it: the WAL
/// directory is copied at that instant (what a crashed process leaves is what its files hold) and a fresh log
/// opened on the copy must hold every appended entry. DotNext's own follower path returns before its flusher has
/// written the entries (staged in private memory), so without <see cref="DurableLog"/> the copy holds none of them.
/// </summary>
public sealed class DurableLogTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("tinyo-durablelog-").FullName;

    [Fact]
    public async Task AFollowersAppendIsOnDiskWhenTheCallReturns()
    {
        var machine = new KvStateMachine(Path.Combine(root, "snapshots"));
        await using var log = new DurableLog(Options(Path.Combine(root, "wal")), machine);
        IPersistentState raft = log; // the interface RaftCluster calls, as its follower path does
        for (var round = 0; round < 5; round++)
        {
            var leaderCommit = log.LastEntryIndex; // a leader commits the previous round, as it would after its acks
            var start = log.LastEntryIndex + 1;
            var entries = Enumerable.Range(0, 50)
                .Select(i => new BinaryLogEntry { Term = 1, Content = new byte[4096] })
                .ToList();
            // RaftCluster's follower path: append, commit the leader's commit index, reply.
            await raft.AppendAsync(new LogEntryProducer<BinaryLogEntry>(entries), start, skipCommitted: true);
            await raft.CommitAsync(leaderCommit);
            var expected = start + entries.Count - 1;

            var copy = Path.Combine(root, $"crash{round}");
            CopyDirectory(Path.Combine(root, "wal"), copy); // the files as a kill -9 at this instant leaves them
            await using var reopened = new WriteAheadLog(Options(copy), new KvStateMachine(Path.Combine(root, $"snap{round}")));
            Assert.Equal(expected, reopened.LastEntryIndex);
            // One flush pass wrote the pages and a checkpoint naming the commit made before it.
            Assert.Equal(leaderCommit, reopened.LastCommittedEntryIndex);
        }
        // Heartbeats (no entries) and commits pass through the same gate without waiting for anything new.
        await raft.AppendAsync(new LogEntryProducer<BinaryLogEntry>([]), log.LastEntryIndex + 1, skipCommitted: true);
        Assert.Equal(50, await raft.CommitAsync(250));
    }

    private static WriteAheadLog.Options Options(string location) => new()
    {
        Location = location,
        ChunkSize = 1 << 20,
        MemoryManagement = WriteAheadLog.MemoryManagementStrategy.PrivateMemory,
    };

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(dir.Replace(from, to, StringComparison.Ordinal));
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, file.Replace(from, to, StringComparison.Ordinal));
    }

    public void Dispose() => Directory.Delete(root, recursive: true);
}
