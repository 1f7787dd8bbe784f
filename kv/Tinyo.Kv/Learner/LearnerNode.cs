using System.Text;
using Tinyo.Kv.Client;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;
using Tinyo.Kv.Watch;

namespace Tinyo.Kv.Learner;

/// <summary>
/// A learner: a read-only copy of a tinyokv cluster that is <b>not</b> a Raft member — it has no peer port, never
/// votes and never counts in the quorum, so starting, stopping or losing it cannot affect the cluster's writes.
/// It copies the whole store with the client protocol's snapshot, then follows every change in revision order
/// through one watch of the whole key space from the snapshot's revision (with previous values), applying each
/// revision's events as they are (<see cref="KeyValueStore.ApplyReplicated"/>): its keys, revisions and versions
/// are the cluster's. When the connection breaks the watch resumes on any member from the next revision; when
/// that revision is no longer held there (compacted, or the member installed a snapshot) it takes a fresh
/// snapshot. The copy is saved to <c>learner.snap</c> every <see cref="LearnerOptions.SnapshotEvery"/> revisions
/// and on a clean stop, and a restart resumes from it. It registers itself under
/// <see cref="LearnerRegistry"/> with a lease it keeps alive, so member lists show it while it runs.
/// </summary>
public sealed class LearnerNode : IAsyncDisposable
{
    private const string FileName = "learner.snap";
    private readonly CancellationTokenSource lifetime = new();
    private readonly Lock waitLock = new();
    private readonly List<(long Revision, TaskCompletionSource Done)> waiters = [];
    private readonly string file;
    private KvClient? follower;
    private KvClient? cluster;
    private WatchHub? watches;
    private Task following = Task.CompletedTask, registering = Task.CompletedTask, saving = Task.CompletedTask;
    private long sinceSave, fetched, lease;
    private int disposed;
    private (DateTime At, StatusInfo? Status) clusterStatus;
    private readonly SemaphoreSlim promoting = new(1, 1);
    private readonly TaskCompletionSource<Raft.KvNode> promoted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Creates a learner; <see cref="StartAsync"/> starts it.</summary>
    public LearnerNode(LearnerOptions options)
    {
        Options = options;
        file = Path.Combine(options.DataDir, FileName);
    }

    /// <summary>The learner's settings.</summary>
    public LearnerOptions Options { get; }

    /// <summary>The local copy.</summary>
    public KeyValueStore Store { get; } = new();

    /// <summary>History and watchers of the local copy.</summary>
    public WatchHub Watches => watches ?? throw new InvalidOperationException("not started");

    /// <summary>A client of the cluster (registration, linearizable read checks, forwarded member lists).</summary>
    public KvClient Cluster => cluster ?? throw new InvalidOperationException("not started");

    /// <summary>Snapshots copied from the cluster since the process started.</summary>
    public long SnapshotsFetched => Interlocked.Read(ref fetched);

    /// <summary>
    /// Loads the saved copy (if any), else copies the store from the cluster (retrying until a member answers or
    /// <paramref name="token"/> ends), then starts following in the background (<see cref="Announce"/> registers).
    /// </summary>
    public async Task StartAsync(CancellationToken token)
    {
        Directory.CreateDirectory(Options.DataDir);
        if (File.Exists(file + ".tmp")) File.Delete(file + ".tmp"); // a save cut short
        var restored = RestoreLocal();
        watches = new WatchHub(Store);
        KvClient NewClient() => new(new KvClientOptions
        {
            Endpoints = Options.Join,
            Token = Options.Token,
            Tls = Options.ClusterTls,
            RequestTimeout = TimeSpan.FromSeconds(10),
        });
        follower = NewClient();
        cluster = NewClient(); // separate: leader redirects of registration writes must not move the watch
        if (!restored)
        {
            while (true)
            {
                try
                {
                    await FetchSnapshotAsync(token).ConfigureAwait(false);
                    break;
                }
                catch (KvException e)
                {
                    Console.Error.WriteLine($"tinyokv: learner {Options.Name}: cannot copy the store yet: {e.Message}; retrying");
                    await Task.Delay(1000, token).ConfigureAwait(false);
                }
            }
        }
        following = Task.Run(() => FollowAsync(lifetime.Token));
    }

    /// <summary>
    /// Starts keeping the registration (<see cref="LearnerRegistry"/>); call once the learner's server listens, so a
    /// client that finds it in a member list can reach it.
    /// </summary>
    public void Announce()
    {
        if (registering.IsCompleted) registering = Task.Run(() => RegisterAsync(lifetime.Token));
    }

    private bool RestoreLocal()
    {
        if (!File.Exists(file)) return false;
        try
        {
            using var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            Store.Restore(fs);
            Console.WriteLine($"tinyokv: learner {Options.Name}: resumed its saved copy at revision {Store.Current.Revision}");
            return true;
        }
        catch (KvException e)
        {
            Console.Error.WriteLine($"tinyokv: learner {Options.Name}: ignoring its saved copy ({e.Message}); copying the cluster's");
            return false;
        }
    }

    private async Task FetchSnapshotAsync(CancellationToken token)
    {
        // Streamed into a file beside learner.snap, never whole in memory: at millions of keys the copy is hundreds
        // of MiB. Once restored (which verifies it whole) the file is the saved copy: fsynced, then renamed.
        var copy = file + ".copy";
        try
        {
            long revision;
            await using (var fs = new FileStream(copy, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16))
            {
                await follower!.SnapshotAsync(fs, token).ConfigureAwait(false);
                fs.Position = 0;
                var head = new byte[Math.Min(fs.Length, 4096)];
                fs.ReadExactly(head);
                revision = KeyValueStore.SnapshotRevision(head);
                // A member far behind could hand out an older state than this copy: never go back in time.
                if (revision < Store.Current.Revision)
                    throw new KvServerException(ErrorCode.Unavailable, $"the member's snapshot (revision {revision}) is older than this copy ({Store.Current.Revision})");
                fs.Position = 0;
                Store.Restore(fs);
                fs.Flush(flushToDisk: true);
            }
            Interlocked.Increment(ref fetched);
            Console.WriteLine($"tinyokv: learner {Options.Name}: copied the store at revision {revision} ({Store.Current.Count} keys)");
            Signal(revision);
            sinceSave = 0;
            await saving.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing); // an older save must not land after this one
            try
            {
                File.Move(copy, file, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Restored but not kept: the copy is served all the same; the next save writes it.
                Console.Error.WriteLine($"tinyokv: learner {Options.Name}: saving the copy failed: {e.Message}");
            }
        }
        finally
        {
            File.Delete(copy);
        }
    }

    /// <summary>Follows the cluster: one watch of every key from the next revision, re-copying when it is gone.</summary>
    private async Task FollowAsync(CancellationToken token)
    {
        long compactedAt = -1;
        while (!token.IsCancellationRequested)
        {
            try
            {
                var from = Store.Current.Revision + 1;
                await foreach (var frame in follower!.WatchAsync([], [0], from, prevKv: true, token).ConfigureAwait(false))
                {
                    if (!Store.ApplyReplicated(frame.Revision, frame.Events)) continue;
                    Signal(frame.Revision);
                    if (++sinceSave >= Options.SnapshotEvery && saving.IsCompleted)
                    {
                        sinceSave = 0;
                        var capture = Store.Capture();
                        saving = Task.Run(() => SaveAsync(capture));
                    }
                }
            }
            catch (KvServerException e) when (e.Code == ErrorCode.Compacted)
            {
                // The first time, resume once more (a member cut off a slow watcher, another may still hold the
                // revision); the same revision refused twice is gone: copy the store again.
                var at = Store.Current.Revision;
                if (compactedAt != at)
                {
                    compactedAt = at;
                    Console.Error.WriteLine($"tinyokv: learner {Options.Name}: watch from {at + 1} refused ({e.Message}); retrying");
                    continue;
                }
                Console.Error.WriteLine($"tinyokv: learner {Options.Name}: revision {at + 1} is no longer held by the cluster; copying the store again");
                try
                {
                    await FetchSnapshotAsync(token).ConfigureAwait(false);
                    compactedAt = -1;
                }
                catch (Exception f) when (f is not OutOfMemoryException && !token.IsCancellationRequested)
                {
                    Console.Error.WriteLine($"tinyokv: learner {Options.Name}: copy failed: {f.Message}");
                    await Delay(1000, token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Whatever it was, the loop must go on: a learner that stopped following would serve stale reads forever.
                Console.Error.WriteLine($"tinyokv: learner {Options.Name}: following: {e.Message}");
                await Delay(500, token).ConfigureAwait(false);
            }
        }
    }

    private static async Task Delay(int ms, CancellationToken token)
        => await Task.Delay(ms, token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

    /// <summary>Writes a capture of the copy to <c>learner.snap</c> (temp file, fsync, rename).</summary>
    private async Task SaveAsync(StoreSnapshot capture)
    {
        try
        {
            var tmp = file + ".tmp";
            await using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                capture.WriteTo(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, file, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"tinyokv: learner {Options.Name}: saving the copy failed: {e.Message}");
        }
    }

    /// <summary>
    /// Keeps <c>/tinyokv/learners/NAME</c> on a lease: grant, put, keep alive every third of the TTL; a lease
    /// that expired (the cluster had no quorum long enough) or a key deleted by someone is put back.
    /// </summary>
    private async Task RegisterAsync(CancellationToken token)
    {
        var key = LearnerRegistry.Key(Options.Name);
        var value = Encoding.UTF8.GetBytes(Endpoints.Format(Options.ClientAddress));
        long putRevision = 0;
        while (!token.IsCancellationRequested)
        {
            try
            {
                if (putRevision == 0 && Store.Current.Get(key) is { } other && !other.Value.AsSpan().SequenceEqual(value))
                {
                    Console.Error.WriteLine($"tinyokv: learner {Options.Name}: the name is registered by a learner at {Encoding.UTF8.GetString(other.Value)}; " +
                                            "learner names must be unique (taking the entry over)");
                }
                if (Interlocked.Read(ref lease) == 0)
                {
                    var (id, _) = await Cluster.LeaseGrantAsync(LearnerRegistry.LeaseTtlSeconds, ct: token).ConfigureAwait(false);
                    Interlocked.Exchange(ref lease, id);
                    putRevision = 0;
                }
                if (putRevision == 0 || (Store.Current.Revision >= putRevision && Store.Current.Get(key) is null))
                    putRevision = (await Cluster.PutAsync(key, value, Interlocked.Read(ref lease), token).ConfigureAwait(false)).Revision;
                await Task.Delay(TimeSpan.FromSeconds(LearnerRegistry.LeaseTtlSeconds / 3.0), token).ConfigureAwait(false);
                await Cluster.LeaseKeepAliveAsync(Interlocked.Read(ref lease), token).ConfigureAwait(false);
            }
            catch (KvServerException e) when (e.Code == ErrorCode.LeaseNotFound)
            {
                Interlocked.Exchange(ref lease, 0);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Console.Error.WriteLine($"tinyokv: learner {Options.Name}: registration: {e.Message}; retrying");
                await Delay(1000, token).ConfigureAwait(false);
            }
        }
    }

    private void Signal(long revision)
    {
        lock (waitLock)
        {
            for (var i = waiters.Count - 1; i >= 0; i--)
            {
                if (waiters[i].Revision > revision) continue;
                waiters[i].Done.TrySetResult();
                waiters.RemoveAt(i);
            }
        }
    }

    /// <summary>Completes with the member this learner became (<see cref="PromoteAsync"/>): the process serves as it from then on.</summary>
    public Task<Raft.KvNode> Promoted => promoted.Task;

    /// <summary>The member being started by a promotion, until it takes over the client port.</summary>
    public Raft.KvNode? PromotingNode { get; private set; }

    /// <summary>
    /// Promotion to a voting member, once caught up: the learner checks it has applied the group's current revision,
    /// starts a Raft member on <see cref="LearnerOptions.PromoteAs"/> (an empty data directory), asks the leader to
    /// add it, and waits until that member has applied the revision the group had then. <see cref="Promoted"/>
    /// then completes; the caller stops the learner (deregistering it) and serves the member on the same client
    /// address. A member added but not caught up in time is removed again and the learner goes on as before.
    /// The Raft member copies the group through Raft itself (DotNext's log and snapshots): the learner's copy
    /// only proves it was caught up, it cannot seed a Raft log.
    /// </summary>
    public async Task PromoteAsync(CancellationToken token)
    {
        if (Options.PromoteAs is not { } member)
            throw new KvServerException(ErrorCode.MembershipFailed, $"learner {Options.Name} was started without --listen-peer: restart it with --listen-peer ADDRESS to promote it");
        await promoting.WaitAsync(token).ConfigureAwait(false);
        try
        {
            if (promoted.Task.IsCompleted) return;
            using (var caughtUp = CancellationTokenSource.CreateLinkedTokenSource(token))
            {
                caughtUp.CancelAfter(TimeSpan.FromSeconds(10));
                try
                {
                    await ReadIndexAsync(caughtUp.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!token.IsCancellationRequested)
                {
                    throw new KvServerException(ErrorCode.MembershipFailed, $"learner {Options.Name} has not caught up with the group within 10 s (at revision {Store.Current.Revision})");
                }
            }
            if (Directory.Exists(member.DataDir)) Directory.Delete(member.DataDir, recursive: true); // a failed earlier attempt
            var node = new Raft.KvNode(member);
            var peer = Endpoints.Format(member.PeerAddress);
            var added = false;
            try
            {
                await node.StartAsync(token).ConfigureAwait(false);
                PromotingNode = node;
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (!added)
                {
                    try
                    {
                        await Cluster.MemberAddAsync(peer, standby: false, token).ConfigureAwait(false);
                        added = true;
                    }
                    catch (KvServerException e) when (e.Message.Contains("in progress", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
                    {
                        await Task.Delay(500, token).ConfigureAwait(false);
                    }
                }
                var target = (await Cluster.RangeAsync(new RangeRequest(LearnerRegistry.Key(Options.Name), CountOnly: true), token).ConfigureAwait(false)).Revision;
                deadline = DateTime.UtcNow.AddSeconds(60);
                while (node.Store.Current.Revision < target)
                {
                    if (DateTime.UtcNow > deadline)
                        throw new KvServerException(ErrorCode.MembershipFailed, $"the new member {peer} did not catch up within 60 s (revision {node.Store.Current.Revision} of {target})");
                    await Task.Delay(50, token).ConfigureAwait(false);
                }
            }
            catch
            {
                PromotingNode = null;
                if (added)
                {
                    try
                    {
                        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                        await Cluster.MemberRemoveAsync(peer, cts.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is KvException or OperationCanceledException)
                    {
                        Console.Error.WriteLine($"tinyokv: learner {Options.Name}: could not remove the half-promoted member {peer}: {e.Message}; remove it with member remove");
                    }
                }
                await node.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            Console.WriteLine($"tinyokv: learner {Options.Name}: promoted: member {peer} added and caught up");
            promoted.TrySetResult(node);
        }
        finally
        {
            promoting.Release();
        }
    }

    /// <summary>Completes once the copy has applied <paramref name="revision"/>.</summary>
    public async Task WaitForRevisionAsync(long revision, CancellationToken token)
    {
        TaskCompletionSource done;
        lock (waitLock)
        {
            if (Store.Current.Revision >= revision) return;
            done = new(TaskCreationOptions.RunContinuationsAsynchronously);
            waiters.Add((revision, done));
        }
        try
        {
            await done.Task.WaitAsync(token).ConfigureAwait(false);
        }
        finally
        {
            lock (waitLock) waiters.RemoveAll(w => w.Done == done);
        }
    }

    /// <summary>
    /// A linearizable read point (Raft's read index, through a member): a linearizable count read on the cluster
    /// returns a revision that includes every write acknowledged before it; once the copy has applied it, a local
    /// read is as fresh as one on the leader. Fails (no quorum, cluster unreachable) as the member read would.
    /// </summary>
    public async Task ReadIndexAsync(CancellationToken token)
    {
        var probe = await Cluster.RangeAsync(new RangeRequest(LearnerRegistry.Key(Options.Name), CountOnly: true), token).ConfigureAwait(false);
        await WaitForRevisionAsync(probe.Revision, token).ConfigureAwait(false);
    }

    /// <summary>The cluster's status as a member reports it (leader, term), cached for a second; null when unreachable.</summary>
    public async Task<StatusInfo?> ClusterStatusAsync(CancellationToken token)
    {
        var cached = clusterStatus;
        if (DateTime.UtcNow - cached.At < TimeSpan.FromSeconds(1)) return cached.Status;
        StatusInfo? status = null;
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
            cts.CancelAfter(TimeSpan.FromSeconds(2));
            status = await Cluster.StatusAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KvException || (e is OperationCanceledException && !token.IsCancellationRequested))
        {
        }
        clusterStatus = (DateTime.UtcNow, status);
        return status;
    }

    /// <summary>The leader's client address as the cluster reports it; empty when unknown.</summary>
    public async Task<string> LeaderClientAddressAsync(CancellationToken token)
        => (await ClusterStatusAsync(token).ConfigureAwait(false))?.Leader ?? "";

    /// <summary>The learner's status: role <c>learner</c>, the cluster's leader and term, the copy's revision.</summary>
    public async Task<StatusInfo> StatusAsync(CancellationToken token)
    {
        var s = await ClusterStatusAsync(token).ConfigureAwait(false);
        var view = Store.Current;
        return new StatusInfo(Options.Name, "", Endpoints.Format(Options.ClientAddress), "learner", s?.Leader ?? "", s?.Term ?? 0,
            view.Revision, view.CompactRevision, 0, 0, 0, view.Count, false, SnapshotsFetched); // no Raft log here: no indexes
    }

    /// <summary>Stops following, deregisters (revokes the lease), saves the copy and closes the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        await lifetime.CancelAsync().ConfigureAwait(false);
        await following.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await registering.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var id = Interlocked.Read(ref lease);
        if (id != 0 && cluster is not null)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                await cluster.LeaseRevokeAsync(id, cts.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is KvException or OperationCanceledException)
            {
                // The key expires with the lease.
            }
        }
        await saving.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (watches is not null && Store.Current.Revision > 0) await SaveAsync(Store.Capture()).ConfigureAwait(false);
        if (follower is not null) await follower.DisposeAsync().ConfigureAwait(false);
        if (cluster is not null) await cluster.DisposeAsync().ConfigureAwait(false);
        lifetime.Dispose();
        promoting.Dispose();
    }
}
