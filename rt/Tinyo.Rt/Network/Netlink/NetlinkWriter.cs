using System.Buffers.Binary;
using System.Text;

using Tinyo.Linux;

namespace Tinyo.Rt.Network.Netlink;

/// <summary>
/// Encodes a batch of netlink requests into one buffer (sent with one <c>send</c>): each message gets a sequence
/// number and a description that names the operation in errors ("adding address 10.88.0.2/24 to eth0").
/// </summary>
internal sealed class NetlinkWriter
{
    private byte[] buf = new byte[512];
    private int len;
    private int msgStart = -1;
    private readonly List<(uint Seq, string What)> ops = [];
    private uint nextSeq;

    /// <summary>A writer whose messages are numbered from <paramref name="firstSeq"/>.</summary>
    public NetlinkWriter(uint firstSeq) => nextSeq = firstSeq;

    /// <summary>The encoded bytes so far.</summary>
    public ReadOnlySpan<byte> Bytes => buf.AsSpan(0, len);

    /// <summary>The messages written: sequence number and what each one does.</summary>
    public IReadOnlyList<(uint Seq, string What)> Operations => ops;

    /// <summary>Starts a message; <see cref="End"/> closes it.</summary>
    public void Begin(ushort type, ushort flags, string what)
    {
        if (msgStart >= 0) throw new InvalidOperationException("netlink message not ended");
        msgStart = len;
        var seq = nextSeq++;
        var h = Reserve(Rtnl.HeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], (ushort)(flags | Rtnl.NLM_F_REQUEST));
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], seq);
        ops.Add((seq, what));
    }

    /// <summary>Closes the current message: writes its length.</summary>
    public void End()
    {
        BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(msgStart), (uint)(len - msgStart));
        msgStart = -1;
    }

    /// <summary>struct ifinfomsg.</summary>
    public void IfInfo(int index, uint flags = 0, uint change = 0, byte family = Rtnl.AF_UNSPEC)
    {
        var s = Reserve(Rtnl.IfInfoSize);
        s[0] = family;
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], index);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(s[12..], change);
    }

    /// <summary>struct ifaddrmsg.</summary>
    public void IfAddr(byte family, byte prefixLength, byte scope, int index)
    {
        var s = Reserve(Rtnl.IfAddrSize);
        s[0] = family;
        s[1] = prefixLength;
        s[3] = scope;
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], index);
    }

    /// <summary>struct rtmsg.</summary>
    public void RtMsg(byte family, byte dstLength, byte table, byte protocol, byte scope, byte type, uint flags = 0)
    {
        var s = Reserve(Rtnl.RtMsgSize);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], flags);
        s[0] = family;
        s[1] = dstLength;
        s[4] = table;
        s[5] = protocol;
        s[6] = scope;
        s[7] = type;
    }

    /// <summary>struct ndmsg (neighbours and bridge/VXLAN forwarding entries).</summary>
    public void NdMsg(byte family, int index, ushort state, byte flags)
    {
        var s = Reserve(Rtnl.NdMsgSize);
        s[0] = family;
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], index);
        BinaryPrimitives.WriteUInt16LittleEndian(s[8..], state);
        s[10] = flags;
    }

    /// <summary>An attribute with a raw value.</summary>
    public void Attr(ushort type, ReadOnlySpan<byte> value)
    {
        var s = Reserve(Rtnl.Align(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(s, (ushort)(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(s[2..], type);
        value.CopyTo(s[4..]);
    }

    /// <summary>A 32-bit attribute.</summary>
    public void AttrU32(ushort type, uint value)
    {
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(v, value);
        Attr(type, v);
    }

    /// <summary>A NUL-terminated string attribute.</summary>
    public void AttrString(ushort type, string value)
    {
        Span<byte> v = stackalloc byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, v);
        v[^1] = 0;
        Attr(type, v);
    }

    /// <summary>Opens a nested attribute; returns its offset for <see cref="EndNested"/>.</summary>
    public int BeginNested(ushort type)
    {
        int at = len;
        var s = Reserve(4);
        BinaryPrimitives.WriteUInt16LittleEndian(s[2..], type);
        return at;
    }

    /// <summary>Closes a nested attribute opened at <paramref name="at"/>.</summary>
    public void EndNested(int at) => BinaryPrimitives.WriteUInt16LittleEndian(buf.AsSpan(at), (ushort)(len - at));

    private Span<byte> Reserve(int n)
    {
        if (len + n > buf.Length) Array.Resize(ref buf, Math.Max(buf.Length * 2, len + n));
        var s = buf.AsSpan(len, n);
        s.Clear();
        len += n;
        return s;
    }
}
