using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Immutable;
using System.IO.Hashing;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Mvcc;

public sealed partial class KeyValueStore
{
    /// <summary>First bytes of a snapshot file.</summary>
    internal static ReadOnlySpan<byte> Magic => "TINYOKV\x01"u8;

    /// <summary>
    /// Captures the whole state cheaply on the applier thread: the key tree is immutable and shared, leases and
    /// sessions are copied. The returned object can be written out on another thread while applies go on.
    /// </summary>
    public StoreSnapshot Capture()
    {
        lock (applyLock) return CaptureLocked();
    }

    private StoreSnapshot CaptureLocked()
    {
        List<(long, long, byte[][])> leaseCopy;
        lock (leases)
            leaseCopy = leases.Select(static p => (p.Key, p.Value.Ttl, p.Value.Keys.ToArray())).ToList();
        var sessionCopy = sessions.Select(static p =>
            (p.Key, p.Value.Floor, p.Value.LastIndex, p.Value.Replies.ToArray())).ToList();
        return new(keys, revision, compactRevision, appliedIndex, leaseCopy, sessionCopy);
    }

    /// <summary>
    /// Replaces the state with a snapshot read from <paramref name="input"/>. Throws <see cref="KvException"/>
    /// when the file is not a complete, intact tinyokv snapshot; the store is unchanged then.
    /// </summary>
    public void Restore(Stream input)
    {
        lock (applyLock) RestoreLocked(input);
        Restored?.Invoke(current.Revision);
    }

    private void RestoreLocked(Stream input)
    {
        var reader = new RecordReader(input);
        var header = reader.Next("snapshot: empty file");
        var h = new WireReader(header);
        if (!h.BytesSpan().SequenceEqual(Magic)) throw new KvException("snapshot: not a tinyokv snapshot");
        var rev = h.Var();
        var compact = h.Var();
        var index = h.Var();
        var nkeys = h.Var();
        var nleases = h.Int();
        var nsessions = h.Int();

        var builder = ImmutableSortedSet.CreateBuilder(KeyOrder.Instance);
        for (long i = 0; i < nkeys; i++)
        {
            var rec = reader.Next("snapshot: truncated in keys");
            var r = new WireReader(rec);
            builder.Add(KeyValue.Decode(ref r));
        }
        var newLeases = new Dictionary<long, Lease>();
        for (var i = 0; i < nleases; i++)
        {
            var rec = reader.Next("snapshot: truncated in leases");
            var r = new WireReader(rec);
            var id = r.Var();
            var lease = new Lease(r.Var());
            for (int k = 0, n = r.Int(); k < n; k++) lease.Keys.Add(r.Bytes());
            newLeases[id] = lease;
        }
        var newSessions = new Dictionary<ulong, Session>();
        for (var i = 0; i < nsessions; i++)
        {
            var rec = reader.Next("snapshot: truncated in sessions");
            var r = new WireReader(rec);
            var id = r.U64();
            var s = new Session { Floor = r.UVar(), LastIndex = r.Var() };
            for (int k = 0, n = r.Int(); k < n; k++) s.Replies[r.UVar()] = r.Bytes();
            newSessions[id] = s;
        }
        reader.VerifyTrailer();

        keys = builder.ToImmutable();
        dataBytes = 0;
        foreach (var kv in keys) dataBytes += kv.Key.Length + kv.Value.Length;
        revision = rev;
        compactRevision = compact;
        appliedIndex = index;
        lock (leases)
        {
            leases.Clear();
            foreach (var p in newLeases) leases[p.Key] = p.Value;
        }
        sessions.Clear();
        foreach (var p in newSessions) sessions[p.Key] = p.Value;
        current = new(keys, revision, compactRevision, index, dataBytes);
    }

    /// <summary>
    /// Reads length-prefixed records (u32 little-endian length, then the record) and checks the trailing
    /// XxHash64 of everything before it.
    /// </summary>
    private sealed class RecordReader(Stream input)
    {
        private readonly XxHash64 hash = new();
        private byte[] buffer = new byte[4096];
        private readonly byte[] lenBuf = new byte[4];

        public ReadOnlySpan<byte> Next(string whereTruncated)
        {
            if (!Fill(lenBuf)) throw new KvException(whereTruncated);
            hash.Append(lenBuf);
            var n = BinaryPrimitives.ReadUInt32LittleEndian(lenBuf);
            if (n == 0) throw new KvException("snapshot: unexpected end marker");
            if (n > int.MaxValue) throw new KvException("snapshot: record too large");
            if (buffer.Length < n) buffer = new byte[Math.Max(n, buffer.Length * 2)];
            var span = buffer.AsSpan(0, (int)n);
            if (!Fill(span)) throw new KvException("snapshot: truncated record");
            hash.Append(span);
            return span;
        }

        public void VerifyTrailer()
        {
            Span<byte> trailer = stackalloc byte[12];
            if (!Fill(trailer) || BinaryPrimitives.ReadUInt32LittleEndian(trailer) != 0)
                throw new KvException("snapshot: missing end marker (truncated file?)");
            hash.Append(trailer[..4]);
            if (hash.GetCurrentHashAsUInt64() != BinaryPrimitives.ReadUInt64LittleEndian(trailer[4..]))
                throw new KvException("snapshot: checksum mismatch (corrupt file)");
        }

        private bool Fill(Span<byte> span)
        {
            var read = 0;
            while (read < span.Length)
            {
                var n = input.Read(span[read..]);
                if (n == 0)
                {
                    if (read == 0) return false;
                    throw new KvException("snapshot: truncated record");
                }
                read += n;
            }
            return true;
        }
    }
}

/// <summary>A consistent capture of the store, ready to be written out (see <see cref="KeyValueStore.Capture"/>).</summary>
public sealed class StoreSnapshot
{
    private readonly ImmutableSortedSet<KeyValue> keys;
    private readonly List<(long Id, long Ttl, byte[][] Keys)> leases;
    private readonly List<(ulong Id, ulong Floor, long LastIndex, KeyValuePair<ulong, byte[]>[] Replies)> sessions;

    internal StoreSnapshot(ImmutableSortedSet<KeyValue> keys, long revision, long compactRevision, long appliedIndex,
        List<(long, long, byte[][])> leases, List<(ulong, ulong, long, KeyValuePair<ulong, byte[]>[])> sessions)
    {
        this.keys = keys;
        Revision = revision;
        CompactRevision = compactRevision;
        AppliedIndex = appliedIndex;
        this.leases = leases;
        this.sessions = sessions;
    }

    /// <summary>The store revision captured.</summary>
    public long Revision { get; }

    /// <summary>The compaction revision captured.</summary>
    public long CompactRevision { get; }

    /// <summary>The Raft log index the capture reflects.</summary>
    public long AppliedIndex { get; }

    /// <summary>
    /// Writes the snapshot: a header record, one record per key (in key order), per lease and per client session,
    /// then a zero length and the XxHash64 of all preceding bytes. Each record is a u32 little-endian length and
    /// a body in the wire encoding.
    /// </summary>
    public void WriteTo(Stream output)
    {
        var hash = new XxHash64();
        var buf = new ArrayBufferWriter<byte>(4096);
        Span<byte> len = stackalloc byte[4];

        void Flush(ArrayBufferWriter<byte> b, Span<byte> lenBuf)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(lenBuf, (uint)b.WrittenCount);
            hash.Append(lenBuf);
            hash.Append(b.WrittenSpan);
            output.Write(lenBuf);
            output.Write(b.WrittenSpan);
            b.ResetWrittenCount();
        }

        var w = new WireWriter(buf);
        w.Bytes(KeyValueStore.Magic);
        w.Var(Revision);
        w.Var(CompactRevision);
        w.Var(AppliedIndex);
        w.Var(keys.Count);
        w.Var(leases.Count);
        w.Var(sessions.Count);
        Flush(buf, len);
        foreach (var kv in keys)
        {
            kv.Encode(ref w);
            Flush(buf, len);
        }
        foreach (var (id, ttl, lkeys) in leases)
        {
            w.Var(id);
            w.Var(ttl);
            w.Var(lkeys.Length);
            foreach (var k in lkeys) w.Bytes(k);
            Flush(buf, len);
        }
        foreach (var (id, floor, last, replies) in sessions)
        {
            w.U64(id);
            w.UVar(floor);
            w.Var(last);
            w.Var(replies.Length);
            foreach (var (seq, reply) in replies)
            {
                w.UVar(seq);
                w.Bytes(reply);
            }
            Flush(buf, len);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(len, 0);
        hash.Append(len);
        output.Write(len);
        Span<byte> sum = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(sum, hash.GetCurrentHashAsUInt64());
        output.Write(sum);
    }
}
