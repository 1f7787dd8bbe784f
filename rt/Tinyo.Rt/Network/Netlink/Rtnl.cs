using Tinyo.Linux;

namespace Tinyo.Rt.Network.Netlink;

/// <summary>The numbers of the netlink and rtnetlink wire format used here (linux/netlink.h, rtnetlink.h, if_link.h,
/// if_addr.h, veth.h), kept in one place so encoder and parser agree.</summary>
internal static class Rtnl
{
    // struct nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32.
    public const int HeaderSize = 16;
    public const ushort NLMSG_NOOP = 1, NLMSG_ERROR = 2, NLMSG_DONE = 3, NLMSG_OVERRUN = 4;
    public const ushort NLM_F_REQUEST = 0x1, NLM_F_MULTI = 0x2, NLM_F_ACK = 0x4, NLM_F_DUMP = 0x300,
        NLM_F_REPLACE = 0x100, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400;
    // Flags of an NLMSG_ERROR carrying an acknowledgement: the request was capped, extended-ack TLVs follow.
    public const ushort NLM_F_CAPPED = 0x100, NLM_F_ACK_TLVS = 0x200;
    public const ushort NLMSGERR_ATTR_MSG = 1, NLMSGERR_ATTR_OFFS = 2;

    public const ushort RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18, RTM_SETLINK = 19;
    public const ushort RTM_NEWADDR = 20, RTM_DELADDR = 21, RTM_GETADDR = 22;
    public const ushort RTM_NEWROUTE = 24, RTM_DELROUTE = 25, RTM_GETROUTE = 26;
    public const ushort RTM_NEWNEIGH = 28, RTM_DELNEIGH = 29;

    // struct ndmsg: family u8, pad u8, pad u16, ifindex i32, state u16, flags u8, type u8.
    public const int NdMsgSize = 12;
    public const ushort NDA_DST = 1, NDA_LLADDR = 2;
    public const ushort NUD_NOARP = 0x40, NUD_PERMANENT = 0x80;
    public const byte NTF_SELF = 0x02, NTF_MASTER = 0x04;
    public const uint RTNH_F_ONLINK = 4;

    // IFLA_INFO_DATA of kind "vxlan" (if_link.h).
    public const ushort IFLA_VXLAN_ID = 1, IFLA_VXLAN_LOCAL = 4, IFLA_VXLAN_TTL = 5, IFLA_VXLAN_LEARNING = 7, IFLA_VXLAN_PORT = 15;

    // struct ifinfomsg: family u8, pad u8, type u16, index i32, flags u32, change u32.
    public const int IfInfoSize = 16;
    // struct ifaddrmsg: family u8, prefixlen u8, flags u8, scope u8, index u32.
    public const int IfAddrSize = 8;
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type (u8 each), flags u32.
    public const int RtMsgSize = 12;

    public const uint IFF_UP = 0x1, IFF_LOOPBACK = 0x8, IFF_LOWER_UP = 0x10000;

    public const ushort IFLA_ADDRESS = 1, IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_LINK = 5, IFLA_MASTER = 10,
        IFLA_LINKINFO = 18, IFLA_NET_NS_PID = 19, IFLA_NET_NS_FD = 28, IFLA_LINK_NETNSID = 37;
    public const ushort IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2;
    public const ushort VETH_INFO_PEER = 1;

    public const ushort IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_LABEL = 3, IFA_BROADCAST = 4;

    public const ushort RTA_DST = 1, RTA_OIF = 4, RTA_GATEWAY = 5, RTA_PRIORITY = 6, RTA_PREFSRC = 7, RTA_TABLE = 15;
    public const byte RT_TABLE_MAIN = 254, RTPROT_BOOT = 3, RTPROT_STATIC = 4, RT_SCOPE_UNIVERSE = 0, RT_SCOPE_LINK = 253,
        RT_SCOPE_HOST = 254, RTN_UNICAST = 1;

    public const byte AF_UNSPEC = 0, AF_INET = 2, AF_BRIDGE = 7;

    /// <summary>Rounds a length up to netlink's 4-byte alignment.</summary>
    public static int Align(int n) => (n + 3) & ~3;
}
