using System.Buffers.Binary;
using System.Net;
using System.Text;
using Tinyo.Rt.Network;

using Tinyo.Linux;

namespace Tinyo.Rt.Network.Netlink;

/// <summary>One netlink message of a received buffer: header fields and payload (after the 16-byte header).</summary>
internal readonly ref struct NetlinkMessage(ushort type, ushort flags, uint seq, ReadOnlySpan<byte> payload)
{
    public ushort Type { get; } = type;
    public ushort Flags { get; } = flags;
    public uint Seq { get; } = seq;
    public ReadOnlySpan<byte> Payload { get; } = payload;
}

/// <summary>
/// Walks the messages of one received datagram. The kernel is the peer, but the bytes are still checked as if
/// hostile: every length is bounded by what remains, so a short or lying header ends in an <see cref="RtException"/>,
/// never an out-of-range read (fuzzed: <c>netlink</c> target).
/// </summary>
internal ref struct NetlinkMessages(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> rest = data;

    /// <summary>The next message, false at the end of the buffer.</summary>
    public bool Next(out NetlinkMessage msg)
    {
        msg = default;
        if (rest.IsEmpty) return false;
        if (rest.Length < Rtnl.HeaderSize) throw new RtException($"netlink: truncated message header ({rest.Length} bytes)");
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(rest);
        if (len < Rtnl.HeaderSize || len > (uint)rest.Length)
            throw new RtException($"netlink: message length {len} outside 16..{rest.Length}");
        msg = new NetlinkMessage(BinaryPrimitives.ReadUInt16LittleEndian(rest[4..]), BinaryPrimitives.ReadUInt16LittleEndian(rest[6..]),
            BinaryPrimitives.ReadUInt32LittleEndian(rest[8..]), rest[Rtnl.HeaderSize..(int)len]);
        int step = Rtnl.Align((int)len);
        rest = step >= rest.Length ? [] : rest[step..];
        return true;
    }
}

/// <summary>Walks the attributes (struct rtattr / nlattr) of a payload.</summary>
internal ref struct NetlinkAttrs(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> rest = data;

    /// <summary>The next attribute's type (without the nested/byte-order bits) and value.</summary>
    public bool Next(out ushort type, out ReadOnlySpan<byte> value)
    {
        type = 0;
        value = default;
        if (rest.Length < 4) return false; // trailing padding shorter than a header is ignored, as the kernel does
        ushort len = BinaryPrimitives.ReadUInt16LittleEndian(rest);
        if (len < 4 || len > rest.Length) throw new RtException($"netlink: attribute length {len} outside 4..{rest.Length}");
        type = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(rest[2..]) & 0x3fff);
        value = rest[4..len];
        int step = Rtnl.Align(len);
        rest = step >= rest.Length ? [] : rest[step..];
        return true;
    }
}

/// <summary>Decodes the payloads of the replies this client reads: errors/acks, links and addresses.</summary>
internal static class NetlinkParse
{
    /// <summary>
    /// An NLMSG_ERROR payload: the errno (0 for an acknowledgement) and the kernel's extended-ack message, if any.
    /// </summary>
    public static (int Errno, string? Message) Error(ReadOnlySpan<byte> payload, ushort flags)
    {
        if (payload.Length < 4 + Rtnl.HeaderSize) throw new RtException($"netlink: error message of {payload.Length} bytes");
        int err = BinaryPrimitives.ReadInt32LittleEndian(payload);
        if (err > 0 || err < -4095) throw new RtException($"netlink: error code {err} out of range");
        if ((flags & Rtnl.NLM_F_ACK_TLVS) == 0) return (-err, null);
        // The original request follows: its header only when capped, else all of it.
        uint origLen = BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]);
        int skip = 4 + ((flags & Rtnl.NLM_F_CAPPED) != 0 ? Rtnl.HeaderSize : (int)Math.Min(origLen, (uint)payload.Length));
        if (skip > payload.Length || skip < 4 + Rtnl.HeaderSize) throw new RtException("netlink: error message shorter than its request");
        string? text = null;
        int start = Rtnl.Align(skip);
        var attrs = new NetlinkAttrs(start >= payload.Length ? [] : payload[start..]);
        while (attrs.Next(out var t, out var v))
            if (t == Rtnl.NLMSGERR_ATTR_MSG) text = CString(v);
        return (-err, text);
    }

    /// <summary>An RTM_NEWLINK payload (a dump row).</summary>
    public static LinkInfo Link(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < Rtnl.IfInfoSize) throw new RtException($"netlink: link message of {payload.Length} bytes");
        int index = BinaryPrimitives.ReadInt32LittleEndian(payload[4..]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
        string name = "";
        string? kind = null;
        int mtu = 0, master = 0, peer = 0;
        byte[]? mac = null;
        var attrs = new NetlinkAttrs(payload[Rtnl.IfInfoSize..]);
        while (attrs.Next(out var t, out var v))
        {
            switch (t)
            {
                case Rtnl.IFLA_IFNAME: name = CString(v); break;
                case Rtnl.IFLA_MTU: mtu = (int)U32(v, "IFLA_MTU"); break;
                case Rtnl.IFLA_MASTER: master = (int)U32(v, "IFLA_MASTER"); break;
                case Rtnl.IFLA_LINK: peer = (int)U32(v, "IFLA_LINK"); break;
                case Rtnl.IFLA_ADDRESS: mac = v.ToArray(); break;
                case Rtnl.IFLA_LINKINFO:
                    var info = new NetlinkAttrs(v);
                    while (info.Next(out var it, out var iv))
                        if (it == Rtnl.IFLA_INFO_KIND) kind = CString(iv);
                    break;
            }
        }
        return new LinkInfo(index, name, kind, mtu, (flags & Rtnl.IFF_UP) != 0, master, peer, mac is null ? "" : Convert.ToHexString(mac));
    }

    /// <summary>An RTM_NEWADDR payload (a dump row); null for families other than IPv4.</summary>
    public static AddressInfo? Address(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < Rtnl.IfAddrSize) throw new RtException($"netlink: address message of {payload.Length} bytes");
        byte family = payload[0], prefix = payload[1];
        int index = BinaryPrimitives.ReadInt32LittleEndian(payload[4..]);
        if (family != Rtnl.AF_INET) return null;
        if (prefix > 32) throw new RtException($"netlink: IPv4 prefix length {prefix}");
        IPAddress? local = null, address = null;
        string? label = null;
        var attrs = new NetlinkAttrs(payload[Rtnl.IfAddrSize..]);
        while (attrs.Next(out var t, out var v))
        {
            switch (t)
            {
                case Rtnl.IFA_LOCAL: local = V4(v, "IFA_LOCAL"); break;
                case Rtnl.IFA_ADDRESS: address = V4(v, "IFA_ADDRESS"); break;
                case Rtnl.IFA_LABEL: label = CString(v); break;
            }
        }
        var a = local ?? address ?? throw new RtException("netlink: address message without an address");
        return new AddressInfo(index, a, prefix, label);
    }

    private static uint U32(ReadOnlySpan<byte> v, string what) =>
        v.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(v) : throw new RtException($"netlink: {what} of {v.Length} bytes");

    private static IPAddress V4(ReadOnlySpan<byte> v, string what) =>
        v.Length == 4 ? new IPAddress(v) : throw new RtException($"netlink: {what} of {v.Length} bytes, not an IPv4 address");

    /// <summary>A NUL-terminated (or not) string value, decoded leniently.</summary>
    private static string CString(ReadOnlySpan<byte> v)
    {
        int nul = v.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul < 0 ? v : v[..nul]);
    }
}
