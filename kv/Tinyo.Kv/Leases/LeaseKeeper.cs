using System.Collections.Concurrent;
using System.Diagnostics;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;
using Tinyo.Kv.Raft;

namespace Tinyo.Kv.Leases;

/// <summary>
/// Lease clocks, as etcd keeps them: only the leader counts down. Grants and keep-alives set a deadline of
/// now + TTL; a new leader restarts every lease's clock at its full TTL (a lease outlives a leader change by up
/// to one TTL, never expires early); an expired lease is revoked through the log, deleting its keys.
/// Keep-alives are not replicated.
/// </summary>
public sealed class LeaseKeeper(KvNode node) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<long, long> deadlines = new();
    private Task loop = Task.CompletedTask;

    internal void Start()
    {
        node.Store.LeaseGranted += (id, ttl) => deadlines[id] = Deadline(ttl);
        loop = Task.Run(() => RunAsync(node.Lifetime));
    }

    private static long Deadline(long ttlSeconds) => Stopwatch.GetTimestamp() + ttlSeconds * Stopwatch.Frequency;

    internal void OnLeaderChanged(bool self)
    {
        if (!self) return;
        foreach (var (id, ttl) in node.Store.LeaseTtls) deadlines[id] = Deadline(ttl);
    }

    /// <summary>Refreshes a lease on the leader; returns its TTL.</summary>
    public long KeepAlive(long id)
    {
        if (!node.Store.LeaseTtls.TryGetValue(id, out var ttl))
            throw new KvServerException(ErrorCode.LeaseNotFound, $"lease {id:x} not found");
        deadlines[id] = Deadline(ttl);
        return ttl;
    }

    private async Task RunAsync(CancellationToken token)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        try
        {
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
            {
                if (!node.IsLeader) continue;
                var live = node.Store.LeaseTtls;
                var now = Stopwatch.GetTimestamp();
                foreach (var (id, deadline) in deadlines)
                {
                    if (!live.ContainsKey(id))
                    {
                        deadlines.TryRemove(id, out _);
                        continue;
                    }
                    if (deadline > now) continue;
                    try
                    {
                        var cmd = Command.Encode(CommandKind.LeaseRevoke, 0, 0, 0, (ref w) => w.Var(id));
                        await node.ProposeAsync(cmd, token).ConfigureAwait(false);
                        deadlines.TryRemove(id, out _);
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
                    {
                        // Lost leadership or quorum: the next leader (or the next tick) takes over.
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync() => await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
}
