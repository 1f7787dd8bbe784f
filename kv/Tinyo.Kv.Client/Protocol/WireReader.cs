using System.Buffers.Binary;
using System.Text;

namespace Tinyo.Kv.Protocol;

/// <summary>
/// Reads the primitives written by <see cref="WireWriter"/> from a span. Every read is bounds-checked and a
/// malformed input raises <see cref="ProtocolException"/>: bodies come from the network and are hostile.
/// </summary>
public ref struct WireReader(ReadOnlySpan<byte> input)
{
    private ReadOnlySpan<byte> rest = input;

    /// <summary>Bytes not read yet.</summary>
    public readonly int Remaining => rest.Length;

    /// <summary>Reads one byte.</summary>
    public byte Byte()
    {
        if (rest.IsEmpty) throw Truncated();
        var b = rest[0];
        rest = rest[1..];
        return b;
    }

    /// <summary>Reads a boolean byte (0 or 1).</summary>
    public bool Bool() => Byte() switch
    {
        0 => false,
        1 => true,
        _ => throw new ProtocolException("bad boolean"),
    };

    /// <summary>Reads an unsigned LEB128 varint of at most 10 bytes.</summary>
    public ulong UVar()
    {
        ulong result = 0;
        for (var shift = 0; shift < 70; shift += 7)
        {
            var b = Byte();
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return result;
        }
        throw new ProtocolException("varint too long");
    }

    /// <summary>Reads a varint that must fit a non-negative <see cref="long"/>.</summary>
    public long Var()
    {
        var v = UVar();
        if (v > long.MaxValue) throw new ProtocolException("number out of range");
        return (long)v;
    }

    /// <summary>Reads a varint that must fit a non-negative <see cref="int"/>.</summary>
    public int Int()
    {
        var v = UVar();
        if (v > int.MaxValue) throw new ProtocolException("number out of range");
        return (int)v;
    }

    /// <summary>Reads a fixed 8-byte little-endian value.</summary>
    public ulong U64()
    {
        if (rest.Length < 8) throw Truncated();
        var v = BinaryPrimitives.ReadUInt64LittleEndian(rest);
        rest = rest[8..];
        return v;
    }

    /// <summary>Reads a length-prefixed byte string as a span into the input.</summary>
    public ReadOnlySpan<byte> BytesSpan()
    {
        var n = UVar();
        if (n > (ulong)rest.Length) throw Truncated();
        var s = rest[..(int)n];
        rest = rest[(int)n..];
        return s;
    }

    /// <summary>Reads a length-prefixed byte string into a new array.</summary>
    public byte[] Bytes() => BytesSpan().ToArray();

    /// <summary>Reads a length-prefixed UTF-8 string.</summary>
    public string String() => Encoding.UTF8.GetString(BytesSpan());

    /// <summary>Fails unless the whole input was consumed: trailing garbage is a malformed frame.</summary>
    public readonly void End()
    {
        if (!rest.IsEmpty) throw new ProtocolException("trailing bytes in message");
    }

    private static ProtocolException Truncated() => new("truncated message");
}

/// <summary>A malformed message: the peer gets a clear error, never a stack trace.</summary>
public sealed class ProtocolException(string message) : KvException(message);
