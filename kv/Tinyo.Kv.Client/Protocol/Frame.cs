using System.Buffers;
using System.Buffers.Binary;

namespace Tinyo.Kv.Protocol;

/// <summary>The operations of the client protocol (one byte in each frame).</summary>
public enum Op : byte
{
    /// <summary>First frame of a connection: cluster token and client session id.</summary>
    Hello = 1,
    /// <summary>Put (write: body prefixed by sequence number and acked-below).</summary>
    Put = 2,
    /// <summary>Range read.</summary>
    Range = 3,
    /// <summary>Delete range (write).</summary>
    DeleteRange = 4,
    /// <summary>Transaction (write).</summary>
    Txn = 5,
    /// <summary>Lease grant (write).</summary>
    LeaseGrant = 6,
    /// <summary>Lease revoke (write).</summary>
    LeaseRevoke = 7,
    /// <summary>Lease keep-alive (leader only, not replicated).</summary>
    LeaseKeepAlive = 8,
    /// <summary>Compaction (write).</summary>
    Compact = 9,
    /// <summary>Member list.</summary>
    MemberList = 10,
    /// <summary>Add a member by its peer address (leader).</summary>
    MemberAdd = 11,
    /// <summary>Remove a member by its peer address (leader).</summary>
    MemberRemove = 12,
    /// <summary>The member's status.</summary>
    Status = 13,
    /// <summary>Stream a snapshot of the store.</summary>
    Snapshot = 14,
    /// <summary>Peer-to-peer: answer once the given log index is applied and flushed to disk here.</summary>
    EnsureDurable = 15,
    /// <summary>Lease list with TTLs.</summary>
    LeaseList = 16,
    /// <summary>Watch a key or range: answered by a stream of frames with the request's id.</summary>
    Watch = 17,
    /// <summary>End a watch (body: the watch's request id).</summary>
    WatchCancel = 18,
    /// <summary>Graceful leave of the member that receives it (not forwarded): step down, get removed, stop.</summary>
    MemberLeave = 19,
    /// <summary>Promote the learner that receives it (not forwarded; body: its name) to a voting member.</summary>
    MemberPromote = 20,
    /// <summary>
    /// A snapshot of the store as a stream of frames with the request's id: each a reply whose body is one chunk of
    /// the snapshot file (at most <see cref="Frame.SnapshotChunkBytes"/>), the last one empty. Unlike <see cref="Snapshot"/>
    /// (one reply holding the whole file) neither side needs the whole snapshot in memory, and no frame limit
    /// bounds the store's size.
    /// </summary>
    SnapshotStream = 21,
}

/// <summary>
/// Framing: a u32 big-endian length of what follows, the <see cref="Op"/> byte, a u32 little-endian request id,
/// then the body. A response carries the request's op and id; its body is a status byte (0 = ok, else an
/// <see cref="ErrorCode"/>) followed by the result or a UTF-8 message. Requests of one connection are pipelined:
/// the client sends without waiting and the server answers in any order.
/// </summary>
public static class Frame
{
    /// <summary>Largest chunk of a <see cref="Op.SnapshotStream"/> frame.</summary>
    public const int SnapshotChunkBytes = 1 << 20;

    /// <summary>Bytes of the length prefix.</summary>
    public const int LengthSize = 4;

    /// <summary>Bytes of op and request id.</summary>
    public const int HeaderSize = 5;

    /// <summary>Writes one frame to <paramref name="output"/>.</summary>
    public static void Write(IBufferWriter<byte> output, Op op, uint requestId, ReadOnlySpan<byte> body)
    {
        var head = output.GetSpan(LengthSize + HeaderSize);
        BinaryPrimitives.WriteUInt32BigEndian(head, (uint)(HeaderSize + body.Length));
        head[4] = (byte)op;
        BinaryPrimitives.WriteUInt32LittleEndian(head[5..], requestId);
        output.Advance(LengthSize + HeaderSize);
        new WireWriter(output).Raw(body);
    }

    /// <summary>
    /// Tries to cut one frame from <paramref name="buffer"/>. Returns false when more bytes are needed;
    /// throws <see cref="FrameTooLargeException"/> or <see cref="ProtocolException"/> on a frame that must end the connection.
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, long maxFrame, out Op op, out uint requestId, out ReadOnlySequence<byte> body)
    {
        op = 0;
        requestId = 0;
        body = default;
        if (buffer.Length < LengthSize) return false;
        Span<byte> head = stackalloc byte[LengthSize + HeaderSize];
        var n = (int)Math.Min(buffer.Length, head.Length);
        buffer.Slice(0, n).CopyTo(head);
        var length = BinaryPrimitives.ReadUInt32BigEndian(head);
        if (length < HeaderSize) throw new ProtocolException($"bad frame length {length}");
        if (length - HeaderSize > maxFrame) throw new FrameTooLargeException(length - HeaderSize, maxFrame);
        if (buffer.Length < LengthSize + length) return false;
        op = (Op)head[4];
        requestId = BinaryPrimitives.ReadUInt32LittleEndian(head[5..]);
        body = buffer.Slice(LengthSize + HeaderSize, length - HeaderSize);
        buffer = buffer.Slice(LengthSize + length);
        return true;
    }
}

/// <summary>A frame over the size limit: answered with <see cref="ErrorCode.TooLarge"/>, then the connection closes.</summary>
public sealed class FrameTooLargeException(long size, long limit)
    : KvException($"request of {size} bytes exceeds the limit of {limit} bytes");
