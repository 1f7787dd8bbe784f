using System.Buffers.Binary;
using System.Net;

namespace Tinyo.Rt.Network.Netlink;

/// <summary>
/// Decodes RTM_NEWROUTE rows of a route dump (what a restarted node reads to find overlay routes it left). Bounded
/// like <see cref="NetlinkParse"/>: a short or lying row is an <see cref="RtException"/> (fuzzed: <c>netlink</c> target).
/// </summary>
internal static class RouteRows
{
    /// <summary>An RTM_NEWROUTE payload; null for families other than IPv4.</summary>
    public static RouteInfo? Parse(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < Rtnl.RtMsgSize) throw new RtException($"netlink: route message of {payload.Length} bytes");
        byte family = payload[0], dstLength = payload[1], table = payload[4], protocol = payload[5];
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
        if (family != Rtnl.AF_INET) return null;
        if (dstLength > 32) throw new RtException($"netlink: IPv4 route prefix length {dstLength}");
        IPAddress? dst = null, gateway = null;
        int oif = 0;
        uint tableId = table;
        var attrs = new NetlinkAttrs(payload[Rtnl.RtMsgSize..]);
        while (attrs.Next(out var t, out var v))
        {
            switch (t)
            {
                case Rtnl.RTA_DST: dst = V4(v, "RTA_DST"); break;
                case Rtnl.RTA_GATEWAY: gateway = V4(v, "RTA_GATEWAY"); break;
                case Rtnl.RTA_OIF: oif = v.Length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(v) : throw new RtException($"netlink: RTA_OIF of {v.Length} bytes"); break;
                case Rtnl.RTA_TABLE: tableId = v.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(v) : throw new RtException($"netlink: RTA_TABLE of {v.Length} bytes"); break;
            }
        }
        return new RouteInfo(dst ?? IPAddress.Any, dstLength, gateway, oif, protocol, tableId, (flags & Rtnl.RTNH_F_ONLINK) != 0);
    }

    private static IPAddress V4(ReadOnlySpan<byte> v, string what) =>
        v.Length == 4 ? new IPAddress(v) : throw new RtException($"netlink: {what} of {v.Length} bytes, not an IPv4 address");
}
