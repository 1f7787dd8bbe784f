using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Tinyo.Kv.Protocol;

/// <summary>
/// Appends the protocol's primitives (LEB128 varints, length-prefixed byte strings) to a buffer writer.
/// One encoding serves the wire, the Raft log entries and the snapshot records, so a request body travels
/// from socket to log without being re-encoded.
/// </summary>
public ref struct WireWriter(IBufferWriter<byte> output)
{
    private readonly IBufferWriter<byte> output = output;

    /// <summary>Writes one byte.</summary>
    public readonly void Byte(byte value)
    {
        output.GetSpan(1)[0] = value;
        output.Advance(1);
    }

    /// <summary>Writes an unsigned LEB128 varint.</summary>
    public readonly void UVar(ulong value)
    {
        var span = output.GetSpan(10);
        var i = 0;
        while (value >= 0x80)
        {
            span[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        span[i++] = (byte)value;
        output.Advance(i);
    }

    /// <summary>Writes a signed value as a varint (values are non-negative revisions, ids and counts).</summary>
    public readonly void Var(long value) => UVar((ulong)value);

    /// <summary>Writes a fixed 8-byte little-endian value.</summary>
    public readonly void U64(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(output.GetSpan(8), value);
        output.Advance(8);
    }

    /// <summary>Writes a length-prefixed byte string.</summary>
    public readonly void Bytes(ReadOnlySpan<byte> value)
    {
        UVar((ulong)value.Length);
        Raw(value);
    }

    /// <summary>Writes bytes as they are.</summary>
    public readonly void Raw(ReadOnlySpan<byte> value)
    {
        while (value.Length > 0)
        {
            var span = output.GetSpan(Math.Min(value.Length, 1 << 20));
            var n = Math.Min(span.Length, value.Length);
            value[..n].CopyTo(span);
            output.Advance(n);
            value = value[n..];
        }
    }

    /// <summary>Writes a length-prefixed UTF-8 string.</summary>
    public readonly void String(string value)
    {
        var n = Encoding.UTF8.GetByteCount(value);
        UVar((ulong)n);
        var span = output.GetSpan(n);
        Encoding.UTF8.GetBytes(value, span);
        output.Advance(n);
    }

    /// <summary>Writes a boolean as one byte.</summary>
    public readonly void Bool(bool value) => Byte(value ? (byte)1 : (byte)0);
}
