using System.Buffers;

namespace Tinyo.Kv.Protocol;

/// <summary>Writes a message body.</summary>
public delegate void BodyEncoder(ref WireWriter w);

/// <summary>Builds the state machine's answers: a status byte (0 for success, else an <see cref="ErrorCode"/>), then the body or a message.</summary>
public static class Reply
{
    /// <summary>A success answer with the body written by <paramref name="encode"/>.</summary>
    public static byte[] Ok(BodyEncoder encode)
    {
        var buf = new ArrayBufferWriter<byte>(32);
        var w = new WireWriter(buf);
        w.Byte(0);
        encode(ref w);
        return buf.WrittenSpan.ToArray();
    }

    /// <summary>An error answer.</summary>
    public static byte[] Error(ErrorCode code, string message)
    {
        var buf = new ArrayBufferWriter<byte>(32 + message.Length);
        var w = new WireWriter(buf);
        w.Byte((byte)code);
        w.String(message);
        return buf.WrittenSpan.ToArray();
    }

    /// <summary>Throws the error an answer carries, or returns a reader positioned at its body.</summary>
    public static WireReader Open(ReadOnlySpan<byte> reply)
    {
        var r = new WireReader(reply);
        var status = r.Byte();
        if (status != 0) throw new KvServerException((ErrorCode)status, r.String());
        return r;
    }
}
