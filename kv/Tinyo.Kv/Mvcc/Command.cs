using System.Buffers;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Mvcc;

/// <summary>The replicated commands: each is one Raft log entry, or one item of a <see cref="Batch"/> entry.</summary>
public enum CommandKind : byte
{
    /// <summary>A <see cref="PutRequest"/>.</summary>
    Put = 1,
    /// <summary>A <see cref="DeleteRangeRequest"/>.</summary>
    DeleteRange = 2,
    /// <summary>A <see cref="TxnRequest"/>.</summary>
    Txn = 3,
    /// <summary>Lease grant: id, TTL seconds.</summary>
    LeaseGrant = 4,
    /// <summary>Lease revoke (or expiry): id.</summary>
    LeaseRevoke = 5,
    /// <summary>Compaction: revision.</summary>
    Compact = 6,
    /// <summary>
    /// Several commands in one log entry (count, then each as a length-prefixed command); applied in order, each
    /// as if it were its own entry at this index. Written by the leader's proposal batcher.
    /// </summary>
    Batch = 7,
}

/// <summary>
/// The log entry layout: kind, the client's session id and request sequence number, the lowest sequence number
/// the client still waits for (so the state machine can forget older answers), then the request body exactly
/// as it came over the wire.
/// </summary>
public static class Command
{
    /// <summary>Builds a log entry from a request body.</summary>
    public static byte[] Encode(CommandKind kind, ulong clientId, ulong seq, ulong ackedBelow, ReadOnlySpan<byte> body)
    {
        var buf = new ArrayBufferWriter<byte>(body.Length + 32);
        var w = new WireWriter(buf);
        w.Byte((byte)kind);
        w.U64(clientId);
        w.UVar(seq);
        w.UVar(ackedBelow);
        w.Raw(body);
        return buf.WrittenSpan.ToArray();
    }

    /// <summary>Builds one <see cref="CommandKind.Batch"/> entry from several commands (each built by <c>Encode</c>).</summary>
    public static byte[] EncodeBatch(IReadOnlyList<byte[]> commands)
    {
        var size = 8;
        foreach (var c in commands) size += c.Length + 5;
        var buf = new ArrayBufferWriter<byte>(size);
        var w = new WireWriter(buf);
        w.Byte((byte)CommandKind.Batch);
        w.UVar((ulong)commands.Count);
        foreach (var c in commands) w.Bytes(c);
        return buf.WrittenSpan.ToArray();
    }

    /// <summary>Builds a log entry by encoding a body with <paramref name="encode"/>.</summary>
    public static byte[] Encode(CommandKind kind, ulong clientId, ulong seq, ulong ackedBelow, BodyEncoder encode)
    {
        var buf = new ArrayBufferWriter<byte>(64);
        var w = new WireWriter(buf);
        w.Byte((byte)kind);
        w.U64(clientId);
        w.UVar(seq);
        w.UVar(ackedBelow);
        encode(ref w);
        return buf.WrittenSpan.ToArray();
    }
}

