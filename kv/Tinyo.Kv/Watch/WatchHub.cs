using System.Threading.Channels;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Watch;

/// <summary>
/// Recent history and live watchers of one member. Every applied revision's events are kept in memory (bounded
/// by count and bytes, and trimmed by compaction), so a watcher can start — or resume after a disconnect or a
/// leader change, on any member — from a past revision. A revision no longer held gives a
/// <see cref="ErrorCode.Compacted"/> error naming the oldest one available. Events are pushed from the applier
/// thread without blocking it: a watcher that falls more than <see cref="MaxQueued"/> batches behind is ended
/// with an error telling it where to resume.
/// </summary>
public sealed partial class WatchHub
{
    /// <summary>Batches a watcher may have queued before it is cut off.</summary>
    public const int MaxQueued = 10_000;

    private readonly Lock sync = new();
    private readonly LinkedList<(long Revision, IReadOnlyList<WatchEvent> Events, long Bytes)> history = new();
    private readonly List<Watcher> watchers = [];
    private readonly KeyValueStore store;
    private readonly long maxEvents, maxBytes;
    private long heldEvents, heldBytes;
    private long firstRevision;
    private StoreView latest; // the view the newest held events lead to (the store's may be one entry ahead)

    /// <summary>
    /// Events held by default. Each holds its key, value and previous value, so the history is most of a busy
    /// member's heap: at 100,000 events of 256 B values it was ≈ 40 % of the leader's RSS after the benchmark.
    /// 10,000 events still cover minutes of a cluster's normal writes for a watcher to resume after a reconnect or a
    /// leader change; one that falls further behind is told to re-read (<see cref="ErrorCode.Compacted"/>), as a
    /// learner does by copying the store again.
    /// </summary>
    public const long DefaultMaxEvents = 10_000;

    /// <summary>Bytes of keys and values the history holds by default (large values shorten the window).</summary>
    public const long DefaultMaxBytes = 32L << 20;

    /// <summary>Attaches to a store; history starts at the store's next revision.</summary>
    public WatchHub(KeyValueStore store, long maxEvents = DefaultMaxEvents, long maxBytes = DefaultMaxBytes)
    {
        this.store = store;
        this.maxEvents = maxEvents;
        this.maxBytes = maxBytes;
        firstRevision = store.Current.Revision + 1;
        latest = store.Current;
        store.Changed += OnChanged;
        store.Restored += OnRestored;
    }

    /// <summary>The oldest revision from which history is complete.</summary>
    public long FirstRevision
    {
        get
        {
            lock (sync) return Math.Max(firstRevision, store.Current.CompactRevision);
        }
    }

    private void OnRestored(long revision)
    {
        // A snapshot replaced the state: history before it is gone, and watchers cannot be continued seamlessly.
        lock (sync)
        {
            history.Clear();
            heldEvents = heldBytes = 0;
            firstRevision = revision + 1;
            latest = store.Current;
            foreach (var w in watchers) w.Channel.Writer.TryComplete(new KvServerException(ErrorCode.Compacted,
                $"the member installed a snapshot at revision {revision}; re-read the keys and watch from {revision + 1}"));
            watchers.Clear();
        }
    }

    private void OnChanged(long revision, IReadOnlyList<WatchEvent> events)
    {
        lock (sync)
        {
            long bytes = 0;
            foreach (var e in events) bytes += e.Kv.Key.Length + e.Kv.Value.Length + (e.PrevKv?.Value.Length ?? 0) + 64;
            history.AddLast((revision, events, bytes));
            latest = store.Current; // on the applier thread, before the next entry: the view of `revision`
            heldEvents += events.Count;
            heldBytes += bytes;
            var compact = store.Current.CompactRevision;
            while (history.First is { } first && (heldEvents > maxEvents || heldBytes > maxBytes || first.Value.Revision < compact))
            {
                heldEvents -= first.Value.Events.Count;
                heldBytes -= first.Value.Bytes;
                history.RemoveFirst();
                firstRevision = history.First?.Value.Revision ?? revision + 1;
            }
            for (var i = watchers.Count - 1; i >= 0; i--)
            {
                var w = watchers[i];
                if (!w.Offer(revision, events))
                {
                    w.Channel.Writer.TryComplete(new KvServerException(ErrorCode.Compacted,
                        $"watcher fell too far behind; resume from revision {w.NextRevision}"));
                    watchers.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>
    /// Starts a watch of [key, rangeEnd) (one key when rangeEnd is null) from <paramref name="startRevision"/>
    /// (0: from now). Returns the reader of event batches and the revision the watch starts after.
    /// </summary>
    public Watcher Watch(byte[] key, byte[]? rangeEnd, long startRevision, bool prevKv)
    {
        lock (sync)
        {
            var current = store.Current.Revision;
            var floor = Math.Max(firstRevision, store.Current.CompactRevision);
            if (startRevision > 0 && startRevision < floor)
                throw new KvServerException(ErrorCode.Compacted,
                    $"revision {startRevision} is compacted or no longer held here; the oldest available is {floor}");
            var w = new Watcher(key, rangeEnd, prevKv, startRevision > 0 ? startRevision : current + 1);
            foreach (var (rev, events, _) in history)
            {
                if (rev >= w.NextRevision) w.Offer(rev, events);
            }
            watchers.Add(w);
            return w;
        }
    }

    /// <summary>Ends a watch.</summary>
    public void Cancel(Watcher w)
    {
        lock (sync) watchers.Remove(w);
        w.Channel.Writer.TryComplete();
    }
}

/// <summary>One watch: its range, and the queue of event batches (revision, events) for it.</summary>
public sealed class Watcher
{
    private readonly byte[] key;
    private readonly byte[]? rangeEnd;
    private readonly bool prevKv;

    internal Watcher(byte[] key, byte[]? rangeEnd, bool prevKv, long nextRevision)
    {
        this.key = key;
        this.rangeEnd = rangeEnd;
        this.prevKv = prevKv;
        NextRevision = nextRevision;
        StartRevision = nextRevision;
    }

    /// <summary>The first revision this watch reports.</summary>
    public long StartRevision { get; }

    /// <summary>The next revision the watcher will report (for resumption).</summary>
    public long NextRevision { get; private set; }

    /// <summary>Event batches, one per revision that touched the range.</summary>
    public Channel<(long Revision, List<WatchEvent> Events)> Channel { get; } =
        System.Threading.Channels.Channel.CreateBounded<(long, List<WatchEvent>)>(new BoundedChannelOptions(WatchHub.MaxQueued)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

    internal bool Offer(long revision, IReadOnlyList<WatchEvent> events)
    {
        // A watch resumed on a member that lags behind sees old revisions applied after it registered: skip them.
        if (revision < NextRevision) return true;
        List<WatchEvent>? mine = null;
        foreach (var e in events)
        {
            if (!Matches(e.Kv.Key)) continue;
            (mine ??= []).Add(prevKv ? e : e with { PrevKv = null });
        }
        NextRevision = revision + 1;
        return mine is null || Channel.Writer.TryWrite((revision, mine));
    }

    private bool Matches(byte[] k)
    {
        if (rangeEnd is null) return k.AsSpan().SequenceEqual(key);
        if (k.AsSpan().SequenceCompareTo(key) < 0) return false;
        return rangeEnd is [0] || k.AsSpan().SequenceCompareTo(rangeEnd) < 0;
    }
}
