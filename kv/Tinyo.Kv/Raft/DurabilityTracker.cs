using System.Collections.Concurrent;
using System.Net;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Raft;

/// <summary>
/// Makes "acknowledged" mean "on disk on a majority". DotNext 6.12's WAL writes entries to memory-mapped chunks,
/// flushes them in the background and records the flushed position in its checkpoint; on restart a member forgets
/// everything past its checkpoint. A member commits an index only after flushing through it, but a follower may
/// acknowledge an append to the leader before its flush, so an entry the leader committed could still be missing
/// from a majority's disks if every member were killed at once. The leader therefore answers a write only when a
/// majority (itself included) has applied — hence committed, hence flushed — the entry. Confirmations are batched:
/// one round covers every write committed so far (group commit).
/// Never call <c>WriteAheadLog.FlushAsync</c> here: its flush-completion event takes a single waiter, DotNext's own
/// commit path already waits on it, and a second waiter crashes the process.
/// </summary>
public sealed class DurabilityTracker(KvNode node) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<EndPoint, KvClient> peers = new();
    private readonly SemaphoreSlim wake = new(0);
    private readonly object sync = new();
    private readonly List<(long Index, TaskCompletionSource Done)> waiters = [];
    private long durableIndex, wanted;
    private Task loop = Task.CompletedTask;

    internal void Start() => loop = Task.Run(() => RunAsync(node.Lifetime));

    /// <summary>Waits until the entry at <paramref name="index"/> is durable on a majority.</summary>
    public Task WaitAsync(long index, CancellationToken token)
    {
        TaskCompletionSource done;
        bool release;
        lock (sync)
        {
            if (index <= durableIndex) return Task.CompletedTask;
            done = new(TaskCreationOptions.RunContinuationsAsynchronously);
            waiters.Add((index, done));
            release = index > wanted;
            if (release) wanted = index;
        }
        if (release) wake.Release();
        return done.Task.WaitAsync(token);
    }

    private async Task RunAsync(CancellationToken token)
    {
        try
        {
            while (true)
            {
                await wake.WaitAsync(token).ConfigureAwait(false);
                while (true)
                {
                    long highest;
                    lock (sync)
                    {
                        // Nothing asked beyond what is confirmed: drop kicks of entries nobody waits for any more.
                        if (wanted <= durableIndex && waiters.Count == 0) break;
                        if (wanted <= durableIndex) wanted = 0;
                        highest = wanted;
                        foreach (var w in waiters) highest = Math.Max(highest, w.Index);
                    }
                    var target = Math.Max(highest, node.Wal.LastCommittedEntryIndex);
                    if (await ConfirmAsync(target, token).ConfigureAwait(false))
                    {
                        lock (sync)
                        {
                            durableIndex = Math.Max(durableIndex, target);
                            for (var i = waiters.Count - 1; i >= 0; i--)
                            {
                                if (waiters[i].Index <= durableIndex)
                                {
                                    waiters[i].Done.TrySetResult();
                                    waiters.RemoveAt(i);
                                }
                            }
                        }
                    }
                    else
                    {
                        await Task.Delay(50, token).ConfigureAwait(false);
                    }
                }
                // No draining of extra wake-ups here: one released between the check above and a drain would be
                // lost, leaving its waiter stuck; a spare wake-up only costs one empty pass.
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            lock (sync)
            {
                foreach (var (_, done) in waiters) done.TrySetException(new KvServerException(ErrorCode.Unavailable, "member is stopping"));
                waiters.Clear();
            }
        }
    }

    private async Task<bool> ConfirmAsync(long index, CancellationToken token)
    {
        var members = node.Cluster.Members.ToList();
        var needed = members.Count / 2 + 1;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
        cts.CancelAfter(TimeSpan.FromSeconds(2));
        var confirmations = 0;
        var tasks = new List<Task<bool>> { LocalAsync(index, cts.Token) };
        foreach (var m in members)
        {
            if (m.IsRemote) tasks.Add(RemoteAsync(m, index, cts.Token));
        }
        // Send the new commit index to followers now rather than at the next heartbeat.
        if (node.IsLeader) _ = node.Cluster.ForceReplicationAsync(cts.Token).AsTask().ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
        while (tasks.Count > 0)
        {
            var finished = await Task.WhenAny(tasks).ConfigureAwait(false);
            tasks.Remove(finished);
            if (finished.IsCompletedSuccessfully && finished.Result && ++confirmations >= needed)
            {
                await cts.CancelAsync().ConfigureAwait(false);
                return true;
            }
        }
        return false;
    }

    private async Task<bool> LocalAsync(long index, CancellationToken token)
    {
        try
        {
            await node.Wal.WaitForApplyAsync(index, token).ConfigureAwait(false);
            return true;
        }
        catch (Exception)
        {
            return false;
        }
    }

    private async Task<bool> RemoteAsync(DotNext.Net.Cluster.Consensus.Raft.RaftClusterMember member, long index, CancellationToken token)
    {
        try
        {
            var md = await node.MetadataAsync(member, token).ConfigureAwait(false);
            if (!md.TryGetValue("client", out var address)) return false;
            var client = peers.GetOrAdd(member.EndPoint, _ => new KvClient(new KvClientOptions
            {
                Endpoints = [Endpoints.Parse(address)],
                Token = node.Options.Token,
                Tls = node.Options.MemberClientTls,
                ConnectTimeout = TimeSpan.FromSeconds(1),
            }));
            var reply = await client.SendOnceAsync(Op.EnsureDurable, (ref w) => w.Var(index), token).ConfigureAwait(false);
            return reply is [0, ..];
        }
        catch (Exception)
        {
            return false;
        }
    }

    /// <summary>Serves a peer's <see cref="Op.EnsureDurable"/>: waits until the index is applied (so flushed) here.</summary>
    public static async Task EnsureLocalAsync(KvNode node, long index, CancellationToken token)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
        cts.CancelAfter(TimeSpan.FromSeconds(2));
        await node.Wal.WaitForApplyAsync(index, cts.Token).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var c in peers.Values) await c.DisposeAsync().ConfigureAwait(false);
    }
}
