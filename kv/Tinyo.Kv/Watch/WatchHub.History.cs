using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Watch;

public sealed partial class WatchHub
{
    /// <summary>
    /// Answers a range read at a past <paramref name="revision"/> (etcd's <c>get --rev</c>): the newest view with
    /// the held events after that revision undone, newest first (every event carries the key's previous value).
    /// The same window as watches: a revision compacted, or older than the history this member holds, is a
    /// <see cref="ErrorCode.Compacted"/> error naming the oldest readable one.
    /// </summary>
    public RangeResponse RangeAt(RangeRequest req, long revision)
    {
        StoreView view;
        var undo = new List<IReadOnlyList<WatchEvent>>();
        lock (sync)
        {
            view = latest;
            // Events of revisions after `revision` must all be held: from revision + 1 on.
            var floor = Math.Max(firstRevision - 1, store.Current.CompactRevision);
            if (revision < floor)
                throw new KvServerException(ErrorCode.Compacted,
                    $"revision {revision} is compacted or no longer held here; the oldest readable is {floor}");
            if (revision >= view.Revision) return view.Range(req);
            // Only references are taken under the lock (the applier waits on it); the event lists are immutable.
            for (var node = history.Last; node is not null && node.Value.Revision > revision; node = node.Previous)
                undo.Add(node.Value.Events);
        }
        var keys = view.Keys;
        foreach (var events in undo) // newest first
        {
            for (var i = events.Count - 1; i >= 0; i--)
            {
                var e = events[i];
                if (!InRange(e.Kv.Key, req.Key, req.RangeEnd)) continue;
                keys = keys.Remove(KeyValue.Probe(e.Kv.Key));
                if (e.PrevKv is { } prev) keys = keys.Add(prev);
            }
        }
        return StoreView.Range(keys, view.Revision, req);
    }

    private static bool InRange(byte[] k, byte[] key, byte[]? rangeEnd)
    {
        if (rangeEnd is null) return k.AsSpan().SequenceEqual(key);
        if (k.AsSpan().SequenceCompareTo(key) < 0) return false;
        return rangeEnd is [0] || k.AsSpan().SequenceCompareTo(rangeEnd) < 0;
    }
}
