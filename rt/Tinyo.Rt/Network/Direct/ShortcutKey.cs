using System.Buffers.Binary;
using System.Net;

namespace Tinyo.Rt.Network.Direct;

/// <summary>Reads a sockhash key of <see cref="ShortcutLayout"/> back into end points (for tests and inspection).</summary>
internal static class ShortcutKey
{
    /// <summary>The socket's (local, remote) end points from its 16-byte key.</summary>
    public static (IPEndPoint Local, IPEndPoint Remote) Parse(ReadOnlySpan<byte> key) =>
        (new IPEndPoint(new IPAddress(key[..4]), (ushort)BinaryPrimitives.ReadUInt32LittleEndian(key[8..])),
         new IPEndPoint(new IPAddress(key[4..8]), (ushort)BinaryPrimitives.ReadUInt32LittleEndian(key[12..])));
}
