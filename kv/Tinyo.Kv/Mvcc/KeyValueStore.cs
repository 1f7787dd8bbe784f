using System.Collections.Immutable;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Mvcc;

/// <summary>
/// The replicated state: keys with etcd-style MVCC bookkeeping, leases, and the client sessions that make
/// retried writes exactly-once. <see cref="Apply"/> is deterministic and called by one thread (the Raft
/// applier) in log order; readers use <see cref="Current"/>, an immutable view, from any thread.
/// </summary>
public sealed partial class KeyValueStore
{
    /// <summary>Sessions beyond this count evict the least recently used one (deterministically, by log index).</summary>
    internal const int MaxSessions = 10_000;

    private ImmutableSortedSet<KeyValue> keys = ImmutableSortedSet.Create<KeyValue>(KeyOrder.Instance);
    private long revision;
    private long compactRevision;
    private long appliedIndex;
    private long dataBytes;
    private readonly Dictionary<long, Lease> leases = [];
    private readonly Dictionary<ulong, Session> sessions = [];
    private readonly Lock applyLock = new();
    private volatile StoreView current;
    private List<WatchEvent>? events;

    /// <summary>Creates an empty store at revision 0.</summary>
    public KeyValueStore() => current = new(keys, 0, 0, 0, 0);

    /// <summary>The latest applied state.</summary>
    public StoreView Current => current;

    /// <summary>Raised on the applier thread after an entry changed keys, with the revision's events.</summary>
    public event Action<long, IReadOnlyList<WatchEvent>>? Changed;

    /// <summary>Raised on the applier thread after a snapshot replaced the state, with the new revision.</summary>
    public event Action<long>? Restored;

    /// <summary>Raised on the applier thread when a lease was granted (id, TTL seconds) — the leader starts its clock.</summary>
    public event Action<long, long>? LeaseGranted;

    /// <summary>Lease ids and TTLs as of now (applier state; take a copy when not on the applier thread).</summary>
    public IReadOnlyDictionary<long, long> LeaseTtls
    {
        get
        {
            lock (leases) return leases.ToDictionary(static p => p.Key, static p => p.Value.Ttl);
        }
    }

    /// <summary>Applies one log entry and returns the answer for the client that proposed it.</summary>
    /// <param name="entry">The command bytes (see <see cref="Command"/>).</param>
    /// <param name="index">The Raft log index of the entry.</param>
    public byte[] Apply(ReadOnlySpan<byte> entry, long index)
    {
        // Applies are single-threaded; the lock only keeps Capture (any thread) from seeing a half-applied entry.
        lock (applyLock) return ApplyLocked(entry, index);
    }

    private byte[] ApplyLocked(ReadOnlySpan<byte> entry, long index)
    {
        byte[] reply;
        try
        {
            var r = new WireReader(entry);
            var kind = (CommandKind)r.Byte();
            var clientId = r.U64();
            var seq = r.UVar();
            var ackedBelow = r.UVar();
            if (clientId == 0)
            {
                reply = Execute(kind, ref r);
            }
            else
            {
                var session = GetSession(clientId, index);
                if (seq < session.Floor)
                {
                    reply = Reply.Error(ErrorCode.StaleRequest, $"request {seq} of client {clientId:x} was already answered");
                }
                else if (session.Replies.TryGetValue(seq, out var cached))
                {
                    reply = cached;
                }
                else
                {
                    reply = Execute(kind, ref r);
                    session.Replies[seq] = reply;
                }
                if (ackedBelow > session.Floor)
                {
                    foreach (var s in session.Replies.Keys.Where(s => s < ackedBelow).ToList())
                        session.Replies.Remove(s);
                    session.Floor = ackedBelow;
                }
            }
        }
        catch (ProtocolException e)
        {
            // The server validates bodies before proposing, so this is a bug or a corrupt entry; answer, don't diverge.
            reply = Reply.Error(ErrorCode.BadRequest, e.Message);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Every replica fails the same entry the same way: answering keeps the group alive instead of a
            // poison entry stopping every applier.
            reply = Reply.Error(ErrorCode.Internal, $"entry {index} failed: {e.GetType().Name}: {e.Message}");
        }
        appliedIndex = index;
        current = new(keys, revision, compactRevision, index, dataBytes);
        if (events is { Count: > 0 } ev)
        {
            events = null;
            Changed?.Invoke(revision, ev);
        }
        return reply;
    }

    /// <summary>
    /// Applies a log entry that may be a <see cref="CommandKind.Batch"/>: each command in order, exactly as if each
    /// were its own entry at <paramref name="index"/>. Returns one answer per command.
    /// </summary>
    public byte[][] ApplyEntry(ReadOnlySpan<byte> entry, long index)
    {
        if (entry.IsEmpty || entry[0] != (byte)CommandKind.Batch) return [Apply(entry, index)];
        var r = new WireReader(entry[1..]);
        var replies = new byte[(int)r.UVar()][];
        for (var i = 0; i < replies.Length; i++) replies[i] = Apply(r.BytesSpan(), index);
        return replies;
    }

    /// <summary>Records that a log index was applied without a command (configuration or empty entries).</summary>
    public void Skip(long index)
    {
        appliedIndex = index;
        current = new(keys, revision, compactRevision, index, dataBytes);
    }

    private Session GetSession(ulong clientId, long index)
    {
        if (!sessions.TryGetValue(clientId, out var session))
        {
            if (sessions.Count >= MaxSessions)
            {
                var oldest = sessions.MinBy(static p => p.Value.LastIndex).Key;
                sessions.Remove(oldest);
            }
            sessions[clientId] = session = new();
        }
        session.LastIndex = index;
        return session;
    }

    private byte[] Execute(CommandKind kind, ref WireReader r)
    {
        switch (kind)
        {
            case CommandKind.Put:
            {
                var req = PutRequest.Decode(ref r);
                r.End();
                if (CheckPut(req) is { } err) return err;
                var resp = Put(req, revision + 1);
                revision++;
                return Reply.Ok((ref w) => resp.Encode(ref w));
            }
            case CommandKind.DeleteRange:
            {
                var req = DeleteRangeRequest.Decode(ref r);
                r.End();
                var resp = Delete(req, revision + 1);
                if (resp.Deleted > 0) revision++;
                resp = resp with { Revision = revision };
                return Reply.Ok((ref w) => resp.Encode(ref w));
            }
            case CommandKind.Txn:
            {
                var req = TxnRequest.Decode(ref r);
                r.End();
                var resp = Txn(req);
                return resp.Error ?? Reply.Ok((ref w) => resp.Response!.Encode(ref w));
            }
            case CommandKind.LeaseGrant:
            {
                var id = r.Var();
                var ttl = r.Var();
                r.End();
                if (id == 0) return Reply.Error(ErrorCode.BadRequest, "lease id 0 is reserved");
                lock (leases)
                {
                    if (leases.ContainsKey(id)) return Reply.Error(ErrorCode.LeaseExists, $"lease {id:x} already exists");
                    leases[id] = new Lease(ttl);
                }
                LeaseGranted?.Invoke(id, ttl);
                return Reply.Ok((ref w) => { w.Var(revision); w.Var(id); w.Var(ttl); });
            }
            case CommandKind.LeaseRevoke:
            {
                var id = r.Var();
                r.End();
                Lease? lease;
                lock (leases)
                {
                    if (!leases.Remove(id, out lease)) return Reply.Error(ErrorCode.LeaseNotFound, $"lease {id:x} not found");
                }
                if (lease.Keys.Count > 0)
                {
                    var rev = revision + 1;
                    foreach (var key in lease.Keys) DeleteOne(key, rev);
                    revision = rev;
                }
                return Reply.Ok((ref w) => w.Var(revision));
            }
            case CommandKind.Compact:
            {
                var rev = r.Var();
                r.End();
                if (rev > revision) return Reply.Error(ErrorCode.FutureRevision, $"revision {rev} is newer than the store's {revision}");
                if (rev <= compactRevision) return Reply.Error(ErrorCode.Compacted, $"revision {rev} is already compacted (compacted up to {compactRevision})");
                compactRevision = rev;
                return Reply.Ok((ref w) => w.Var(revision));
            }
            default:
                return Reply.Error(ErrorCode.BadRequest, $"unknown command {(byte)kind}");
        }
    }

    private byte[]? CheckPut(PutRequest req)
    {
        if (req.Key.Length == 0) return Reply.Error(ErrorCode.BadRequest, "empty key");
        if (req.Lease != 0)
        {
            lock (leases)
            {
                if (!leases.ContainsKey(req.Lease)) return Reply.Error(ErrorCode.LeaseNotFound, $"lease {req.Lease:x} not found");
            }
        }
        if ((req.IgnoreValue || req.IgnoreLease) && !keys.Contains(KeyValue.Probe(req.Key)))
            return Reply.Error(ErrorCode.BadRequest, "key not found (ignore_value/ignore_lease need an existing key)");
        return null;
    }

    // ImmutableSortedSet.TryGetValue hands back the probe itself when nothing matches, hence the wrapper.
    private KeyValue? Find(byte[] key) => keys.TryGetValue(KeyValue.Probe(key), out var kv) ? kv : null;

    private PutResponse Put(PutRequest req, long rev)
    {
        var prev = Find(req.Key);
        var value = req.IgnoreValue ? prev!.Value : req.Value;
        var lease = req.IgnoreLease ? prev!.Lease : req.Lease;
        var kv = prev is null
            ? new KeyValue(req.Key, value, rev, rev, 1, lease)
            : new KeyValue(prev.Key, value, prev.CreateRevision, rev, prev.Version + 1, lease);
        keys = prev is null ? keys.Add(kv) : keys.Remove(prev).Add(kv);
        dataBytes += kv.Key.Length + kv.Value.Length - (prev is null ? 0 : prev.Key.Length + prev.Value.Length);
        if (prev is not null && prev.Lease != 0 && prev.Lease != lease) DetachLease(prev.Lease, prev.Key);
        if (lease != 0 && (prev is null || prev.Lease != lease)) AttachLease(lease, kv.Key);
        (events ??= []).Add(new(WatchEventType.Put, kv, prev));
        return new(rev, req.PrevKv ? prev : null);
    }

    private DeleteRangeResponse Delete(DeleteRangeRequest req, long rev)
    {
        var found = StoreView.Range(keys, revision, new RangeRequest(req.Key, req.RangeEnd));
        foreach (var kv in found.Kvs) DeleteOne(kv.Key, rev);
        return new(rev, found.Kvs.Count, req.PrevKv ? found.Kvs : []);
    }

    private void DeleteOne(byte[] key, long rev)
    {
        if (Find(key) is not { } prev) return;
        keys = keys.Remove(prev);
        dataBytes -= prev.Key.Length + prev.Value.Length;
        if (prev.Lease != 0) DetachLease(prev.Lease, prev.Key);
        (events ??= []).Add(new(WatchEventType.Delete, new KeyValue(prev.Key, [], 0, rev, 0, 0), prev));
    }

    private void AttachLease(long id, byte[] key)
    {
        lock (leases)
        {
            if (leases.TryGetValue(id, out var l)) l.Keys.Add(key);
        }
    }

    private void DetachLease(long id, byte[] key)
    {
        lock (leases)
        {
            if (leases.TryGetValue(id, out var l)) l.Keys.Remove(key);
        }
    }

    private (TxnResponse? Response, byte[]? Error) Txn(TxnRequest req)
    {
        var ok = true;
        foreach (var c in req.Compares)
        {
            if (!Holds(c))
            {
                ok = false;
                break;
            }
        }
        var ops = ok ? req.Success : req.Failure;
        foreach (var op in ops)
        {
            if (op.Put is { } p && CheckPut(p) is { } err) return (null, err);
        }
        // Every write of the transaction carries the same new revision; the store's revision moves only if one happened.
        var rev = revision + 1;
        var wrote = false;
        var results = new List<TxnOpResponse>(ops.Count);
        foreach (var op in ops)
        {
            if (op.Range is { } rr)
            {
                results.Add(new(Range: StoreView.Range(keys, wrote ? rev : revision, rr)));
            }
            else if (op.Put is { } p)
            {
                results.Add(new(Put: Put(p, rev)));
                wrote = true;
            }
            else if (op.Delete is { } d)
            {
                var resp = Delete(d, rev);
                wrote |= resp.Deleted > 0;
                results.Add(new(Delete: resp));
            }
        }
        if (wrote) revision = rev;
        return (new TxnResponse(revision, ok, results), null);
    }

    private bool Holds(Compare c)
    {
        var kv = Find(c.Key);
        int cmp;
        if (c.Target == CompareTarget.Value)
        {
            // Like etcd, a value compare against an absent key is false whatever the operator.
            if (kv is null) return false;
            cmp = kv.Value.AsSpan().SequenceCompareTo(c.Value ?? []);
        }
        else
        {
            var field = c.Target switch
            {
                CompareTarget.Version => kv?.Version ?? 0,
                CompareTarget.Create => kv?.CreateRevision ?? 0,
                CompareTarget.Mod => kv?.ModRevision ?? 0,
                _ => kv?.Lease ?? 0,
            };
            cmp = field.CompareTo(c.Number);
        }
        return c.Result switch
        {
            CompareResult.Equal => cmp == 0,
            CompareResult.NotEqual => cmp != 0,
            CompareResult.Less => cmp < 0,
            _ => cmp > 0,
        };
    }

    private sealed class Lease(long ttl)
    {
        public long Ttl { get; } = ttl;

        public HashSet<byte[]> Keys { get; } = new(ByteKeyEquality.Instance);
    }

    private sealed class Session
    {
        public ulong Floor;
        public long LastIndex;
        public readonly Dictionary<ulong, byte[]> Replies = [];
    }
}
