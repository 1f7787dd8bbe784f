using System.IO.Hashing;

namespace Tinyo.Kv.Mvcc;

/// <summary>Byte arrays compared by content, for hash sets of keys.</summary>
internal sealed class ByteKeyEquality : IEqualityComparer<byte[]>
{
    public static readonly ByteKeyEquality Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode(byte[] obj) => (int)XxHash3.HashToUInt64(obj);
}
