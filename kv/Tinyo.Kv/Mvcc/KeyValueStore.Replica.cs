namespace Tinyo.Kv.Mvcc;

public sealed partial class KeyValueStore
{
    /// <summary>
    /// Applies one revision's events as another store produced them (a learner following a cluster through its
    /// watch stream): keys are set or removed exactly as the events say — create/mod revision and version are
    /// copied, not recomputed — and the store moves to <paramref name="revision"/>, so it holds what the source
    /// held at that revision. <see cref="Changed"/> is raised with the same events, so this store's watchers and
    /// history see what the source's did. A revision not above the current one is ignored (a repeat) and false
    /// is returned. Leases and client sessions are not followed: a learner forwards those requests.
    /// </summary>
    public bool ApplyReplicated(long revision, IReadOnlyList<WatchEvent> events)
    {
        lock (applyLock)
        {
            if (revision <= this.revision) return false;
            foreach (var e in events)
            {
                var prev = Find(e.Kv.Key);
                if (prev is not null)
                {
                    keys = keys.Remove(prev);
                    dataBytes -= prev.Key.Length + prev.Value.Length;
                }
                if (e.Type == WatchEventType.Put)
                {
                    keys = keys.Add(e.Kv);
                    dataBytes += e.Kv.Key.Length + e.Kv.Value.Length;
                }
            }
            this.revision = revision;
            current = new(keys, revision, compactRevision, appliedIndex, dataBytes);
        }
        if (events.Count > 0) Changed?.Invoke(revision, events);
        return true;
    }

    /// <summary>The revision in a snapshot's header (the whole file is checked only by <see cref="Restore"/>).</summary>
    public static long SnapshotRevision(ReadOnlySpan<byte> snapshot)
    {
        if (snapshot.Length < 4) throw new KvException("snapshot: empty file");
        var r = new Protocol.WireReader(snapshot[4..]);
        if (!r.BytesSpan().SequenceEqual(Magic)) throw new KvException("snapshot: not a tinyokv snapshot");
        return r.Var();
    }
}
