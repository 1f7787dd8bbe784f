using System.Collections.Immutable;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Mvcc;

/// <summary>
/// An immutable picture of the store at one revision. The applier publishes a new view after every entry;
/// readers take the current one without locks, and a snapshot writer can stream an old one while writes go on.
/// </summary>
public sealed class StoreView
{
    internal StoreView(ImmutableSortedSet<KeyValue> keys, long revision, long compactRevision, long appliedIndex, long dataBytes)
    {
        DataBytes = dataBytes;
        Keys = keys;
        Revision = revision;
        CompactRevision = compactRevision;
        AppliedIndex = appliedIndex;
    }

    internal ImmutableSortedSet<KeyValue> Keys { get; }

    /// <summary>The store's revision: bumped once by every write that changed something.</summary>
    public long Revision { get; }

    /// <summary>Revisions below this were compacted away.</summary>
    public long CompactRevision { get; }

    /// <summary>The Raft log index this view reflects.</summary>
    public long AppliedIndex { get; }

    /// <summary>Bytes of keys and values, the measure the optional quota limits.</summary>
    public long DataBytes { get; }

    /// <summary>The number of keys.</summary>
    public int Count => Keys.Count;

    /// <summary>Looks one key up.</summary>
    public KeyValue? Get(byte[] key) => Keys.TryGetValue(KeyValue.Probe(key), out var kv) ? kv : null;

    /// <summary>Answers a range request from this view.</summary>
    public RangeResponse Range(RangeRequest req) => Range(Keys, Revision, req);

    private static int Position(ImmutableSortedSet<KeyValue> keys, byte[] key)
    {
        var i = keys.IndexOf(KeyValue.Probe(key));
        return i < 0 ? ~i : i;
    }

    internal static RangeResponse Range(ImmutableSortedSet<KeyValue> keys, long revision, RangeRequest req)
    {
        if (req.RangeEnd is null)
        {
            if (!keys.TryGetValue(KeyValue.Probe(req.Key), out var one))
                return new(revision, 0, false, []); // (TryGetValue returns the probe when absent: never use it then)
            return new(revision, 1, false, req.CountOnly ? [] : [one]);
        }

        // Positions come from the AVL tree in O(log n), so the count is exact and cheap even with a limit.
        var start = Position(keys, req.Key);
        var end = req.RangeEnd is [0] ? keys.Count : Position(keys, req.RangeEnd);
        var count = Math.Max(0, end - start);
        if (req.CountOnly) return new(revision, count, false, []);
        var take = req.Limit > 0 ? (int)Math.Min(req.Limit, count) : count;
        var list = new List<KeyValue>(take);
        for (var i = 0; i < take; i++) list.Add(keys[start + i]);
        var more = take < count;
        return new(revision, count, more, list);
    }
}
