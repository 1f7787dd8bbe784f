using System.Buffers.Binary;
using System.Net;

namespace Tinyo.Node.Network;

/// <summary>Builds the responder's own answers: the question echoed as asked, A records pointing back at it.</summary>
public static class DnsResponse
{
    /// <summary>TTL of the answers: short, since replicas come and go and health changes.</summary>
    public const uint Ttl = 5;

    /// <summary>
    /// A response to <paramref name="q"/> with <paramref name="rcode"/> and the A records <paramref name="addresses"/>
    /// (in that order). When they do not fit in <paramref name="maxSize"/> bytes, as many as fit are kept and TC is
    /// set (the client asks again over TCP). <paramref name="recursion"/> sets RA (forwarding available).
    /// </summary>
    public static byte[] Build(DnsQuestion q, int rcode, IReadOnlyList<IPAddress> addresses, int maxSize, bool recursion)
    {
        var b = new List<byte>(64 + addresses.Count * 16);
        for (int i = 0; i < DnsMessage.HeaderSize; i++) b.Add(0);
        DnsMessage.WriteName(b, q.Name);
        Add16(b, q.Type);
        Add16(b, q.Class);
        int fit = Math.Max(0, Math.Min(addresses.Count, (maxSize - b.Count) / 16));
        bool truncated = fit < addresses.Count;
        for (int i = 0; i < fit; i++)
        {
            Add16(b, 0xC00C); // the question's name, at offset 12
            Add16(b, DnsMessage.TypeA);
            Add16(b, DnsMessage.ClassIn);
            Add16(b, (ushort)(Ttl >> 16));
            Add16(b, (ushort)Ttl);
            Add16(b, 4);
            b.AddRange(addresses[i].GetAddressBytes());
        }
        var msg = b.ToArray();
        ushort flags = (ushort)(0x8000 | (q.Opcode << 11) | 0x0400 /* AA */ | (q.Flags & 0x0100) /* RD */ | (recursion ? 0x0080 : 0) | (rcode & 0xF));
        if (truncated) flags |= 0x0200;
        BinaryPrimitives.WriteUInt16BigEndian(msg, q.Id);
        BinaryPrimitives.WriteUInt16BigEndian(msg.AsSpan(2), flags);
        BinaryPrimitives.WriteUInt16BigEndian(msg.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt16BigEndian(msg.AsSpan(6), (ushort)fit);
        return msg;
    }

    /// <summary>
    /// An error response to a message that could not be fully read: the id and opcode when the header is there, no
    /// question (FORMERR as RFC 1035 allows). Null for input too short to answer (it is dropped).
    /// </summary>
    public static byte[]? Error(ReadOnlySpan<byte> query, int rcode)
    {
        if (query.Length < 2) return null;
        var msg = new byte[DnsMessage.HeaderSize];
        msg[0] = query[0];
        msg[1] = query[1];
        int opcode = query.Length >= 3 ? (query[2] >> 3) & 0xF : 0;
        BinaryPrimitives.WriteUInt16BigEndian(msg.AsSpan(2), (ushort)(0x8000 | (opcode << 11) | (rcode & 0xF)));
        return msg;
    }

    private static void Add16(List<byte> b, ushort v)
    {
        b.Add((byte)(v >> 8));
        b.Add((byte)v);
    }
}
