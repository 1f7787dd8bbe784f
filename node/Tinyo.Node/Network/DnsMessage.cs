using System.Buffers.Binary;
using System.Text;

namespace Tinyo.Node.Network;

/// <summary>A DNS message that cannot be read (short, a bad name, a compression loop, a count that lies).</summary>
public sealed class DnsFormatException(string message) : NodeException("dns: " + message);

/// <summary>The header and the one question of a DNS query (RFC 1035 §4.1).</summary>
/// <param name="Id">Transaction id.</param>
/// <param name="Flags">The header's flag word (QR, opcode, AA, TC, RD, RA, rcode).</param>
/// <param name="Name">The question name as sent (case kept: resolvers check it comes back the same), without the final dot.</param>
/// <param name="Type">QTYPE (1 = A, 28 = AAAA, ...).</param>
/// <param name="Class">QCLASS (1 = IN).</param>
/// <param name="QuestionEnd">Offset just after the question.</param>
public sealed record DnsQuestion(ushort Id, ushort Flags, string Name, ushort Type, ushort Class, int QuestionEnd)
{
    /// <summary>QR: a response.</summary>
    public bool IsResponse => (Flags & 0x8000) != 0;

    /// <summary>The opcode (0 = QUERY).</summary>
    public int Opcode => (Flags >> 11) & 0xF;

    /// <summary>RD: recursion desired.</summary>
    public bool RecursionDesired => (Flags & 0x0100) != 0;

    /// <summary>The response code of a response.</summary>
    public int Rcode => Flags & 0xF;
}

/// <summary>
/// Reads DNS messages from untrusted bytes (any replica, any upstream): every length and count is bounded by the
/// message, names are at most 255 bytes with labels of at most 63, and compression pointers must point strictly
/// backwards (before the name that uses them), so a pointer loop cannot exist and a name is read in bounded work.
/// Fuzzed: the <c>dns</c> target.
/// </summary>
public static class DnsMessage
{
    /// <summary>Size of the fixed header.</summary>
    public const int HeaderSize = 12;

    /// <summary>Record types and classes used here.</summary>
    public const ushort TypeA = 1, TypeCname = 5, TypeAaaa = 28, TypeOpt = 41, ClassIn = 1;

    /// <summary>Response codes.</summary>
    public const int NoError = 0, FormErr = 1, ServFail = 2, NxDomain = 3, NotImp = 4, Refused = 5;

    /// <summary>Reads the header and the first question; a message with no question or more than one is refused.</summary>
    public static DnsQuestion ReadQuestion(ReadOnlySpan<byte> msg)
    {
        if (msg.Length < HeaderSize) throw new DnsFormatException($"message of {msg.Length} bytes is shorter than a header");
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(msg);
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(msg[2..]);
        ushort qd = BinaryPrimitives.ReadUInt16BigEndian(msg[4..]);
        if (qd != 1) throw new DnsFormatException($"{qd} questions (one expected)");
        var name = ReadName(msg, HeaderSize, out int end);
        if (end + 4 > msg.Length) throw new DnsFormatException("question ends before its type and class");
        return new DnsQuestion(id, flags, name, BinaryPrimitives.ReadUInt16BigEndian(msg[end..]), BinaryPrimitives.ReadUInt16BigEndian(msg[(end + 2)..]), end + 4);
    }

    /// <summary>
    /// Walks a whole message: the question, then every resource record of the answer, authority and additional
    /// sections (owner names, fixed fields, RDATA within bounds; the names inside CNAME/NS/PTR RDATA too). Returns the
    /// question and the A addresses of the answer section. Used on upstream replies before relaying them.
    /// </summary>
    public static (DnsQuestion Question, List<System.Net.IPAddress> Addresses) ReadAll(ReadOnlySpan<byte> msg)
    {
        var q = ReadQuestion(msg);
        int an = BinaryPrimitives.ReadUInt16BigEndian(msg[6..]), ns = BinaryPrimitives.ReadUInt16BigEndian(msg[8..]),
            ar = BinaryPrimitives.ReadUInt16BigEndian(msg[10..]);
        var addrs = new List<System.Net.IPAddress>();
        int at = q.QuestionEnd;
        for (int i = 0; i < an + ns + ar; i++)
        {
            ReadName(msg, at, out at);
            if (at + 10 > msg.Length) throw new DnsFormatException($"record {i + 1} ends before its fixed fields");
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(msg[at..]);
            ushort cls = BinaryPrimitives.ReadUInt16BigEndian(msg[(at + 2)..]);
            int rdlen = BinaryPrimitives.ReadUInt16BigEndian(msg[(at + 8)..]);
            at += 10;
            if (at + rdlen > msg.Length) throw new DnsFormatException($"record {i + 1} has {rdlen} bytes of data, {msg.Length - at} left");
            if (type == TypeA && cls == ClassIn)
            {
                if (rdlen != 4) throw new DnsFormatException($"A record of {rdlen} bytes");
                if (i < an) addrs.Add(new System.Net.IPAddress(msg.Slice(at, 4)));
            }
            else if (type is TypeCname or 2 /* NS */ or 12 /* PTR */)
            {
                ReadName(msg, at, out int nameEnd);
                if (nameEnd != at + rdlen) throw new DnsFormatException($"record {i + 1}: name does not fill its data");
            }
            at += rdlen;
        }
        return (q, addrs);
    }

    /// <summary>
    /// Reads a possibly compressed name starting at <paramref name="offset"/>; <paramref name="end"/> is the offset
    /// after it in the message (after the first pointer, or after the final zero label).
    /// </summary>
    public static string ReadName(ReadOnlySpan<byte> msg, int offset, out int end)
    {
        var sb = new StringBuilder();
        int at = offset, length = 1, limit = offset; // pointers must go below `limit`: strictly backwards
        end = -1;
        while (true)
        {
            if (at >= msg.Length) throw new DnsFormatException("name runs past the end of the message");
            int b = msg[at];
            if ((b & 0xC0) == 0xC0)
            {
                if (at + 1 >= msg.Length) throw new DnsFormatException("compression pointer cut short");
                int target = ((b & 0x3F) << 8) | msg[at + 1];
                if (end < 0) end = at + 2;
                if (target >= limit) throw new DnsFormatException($"compression pointer to {target} does not point backwards");
                limit = target;
                at = target;
                continue;
            }
            if ((b & 0xC0) != 0) throw new DnsFormatException($"label type 0x{b:x2} not supported");
            if (b == 0)
            {
                if (end < 0) end = at + 1;
                return sb.ToString();
            }
            length += b + 1;
            if (length > 255) throw new DnsFormatException("name longer than 255 bytes");
            if (at + 1 + b > msg.Length) throw new DnsFormatException("label runs past the end of the message");
            if (sb.Length > 0) sb.Append('.');
            foreach (var c in msg.Slice(at + 1, b))
            {
                // Names are compared as ASCII; other bytes are kept escaped so they cannot alias a dot or a name.
                if (c is > 0x20 and < 0x7F and not (byte)'.' and not (byte)'\\') sb.Append((char)c);
                else sb.Append('\\').Append(((int)c).ToString("D3", System.Globalization.CultureInfo.InvariantCulture));
            }
            at += 1 + b;
        }
    }

    /// <summary>Writes <paramref name="name"/> (as <see cref="ReadName"/> returns it) uncompressed.</summary>
    public static void WriteName(List<byte> into, string name)
    {
        if (name.Length == 0)
        {
            into.Add(0);
            return;
        }
        foreach (var label in name.Split('.'))
        {
            var bytes = new List<byte>(label.Length);
            for (int i = 0; i < label.Length; i++)
            {
                if (label[i] == '\\' && i + 3 < label.Length && int.TryParse(label.AsSpan(i + 1, 3), out var v))
                {
                    bytes.Add((byte)v);
                    i += 3;
                }
                else bytes.Add((byte)label[i]);
            }
            if (bytes.Count is 0 or > 63) throw new DnsFormatException($"label of {bytes.Count} bytes");
            into.Add((byte)bytes.Count);
            into.AddRange(bytes);
        }
        into.Add(0);
    }
}
