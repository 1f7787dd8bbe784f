using System.Buffers.Binary;
using System.Net;
using Tinyo.Rt.Network.Netlink;

namespace Tinyo.Rt.Network;

/// <summary>
/// The rtnetlink requests of the cluster overlay between nodes (VXLAN): the device, its forwarding entries (which
/// node a MAC address lives behind), permanent neighbours and on-link routes to other nodes' subnets. Same rules as
/// the rest of <see cref="Rtnetlink"/>: one acknowledged request or batch each, refusals thrown with the operation.
/// </summary>
public sealed partial class Rtnetlink
{
    /// <summary>rtm_protocol of the routes the overlay makes, so a restarted node finds the ones it left.</summary>
    public const byte OverlayRouteProtocol = 116;

    /// <summary>
    /// Creates a VXLAN device: VNI <paramref name="vni"/> (1..16777215), encapsulating from <paramref name="local"/>
    /// to UDP port <paramref name="port"/>, no learning (only the entries of <see cref="SetRemote"/> are believed),
    /// hardware address <paramref name="mac"/> (6 bytes), enslaved to <paramref name="master"/> (0: none) and up.
    /// Returns its ifindex.
    /// </summary>
    public int CreateVxlan(string name, uint vni, IPAddress local, ushort port, ReadOnlySpan<byte> mac, int master, int mtu = 0)
    {
        CheckName(name);
        if (vni is 0 or > 0xffffff) throw new RtException($"VXLAN id {vni} is not 1..16777215");
        if (mac.Length != 6) throw new RtException($"a hardware address has 6 bytes, not {mac.Length}");
        var m = mac.ToArray();
        Span<byte> p = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(p, port);
        var portBytes = p.ToArray();
        Run(w =>
        {
            w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL | Rtnl.NLM_F_ACK, $"creating vxlan {name} (id {vni}, port {port})");
            w.IfInfo(0, Rtnl.IFF_UP, Rtnl.IFF_UP);
            w.AttrString(Rtnl.IFLA_IFNAME, name);
            w.Attr(Rtnl.IFLA_ADDRESS, m);
            if (mtu > 0) w.AttrU32(Rtnl.IFLA_MTU, (uint)mtu);
            if (master > 0) w.AttrU32(Rtnl.IFLA_MASTER, (uint)master);
            var li = w.BeginNested(Rtnl.IFLA_LINKINFO);
            w.AttrString(Rtnl.IFLA_INFO_KIND, "vxlan");
            var data = w.BeginNested(Rtnl.IFLA_INFO_DATA);
            w.AttrU32(Rtnl.IFLA_VXLAN_ID, vni);
            w.Attr(Rtnl.IFLA_VXLAN_LOCAL, V4(local));
            w.Attr(Rtnl.IFLA_VXLAN_PORT, portBytes);
            w.Attr(Rtnl.IFLA_VXLAN_LEARNING, [0]);
            w.EndNested(data);
            w.EndNested(li);
            w.End();
        });
        return LinkIndex(name);
    }

    /// <summary>
    /// Declares that <paramref name="mac"/> lives behind node <paramref name="remote"/>, in one batch: the VXLAN
    /// device's own entry (frames to it are sent to that node) and a static entry of the bridge the device is a port
    /// of (frames to it go to the device, never flooded to the replicas' ports). Idempotent (replaces).
    /// </summary>
    public void SetRemote(int vxlanIndex, ReadOnlySpan<byte> mac, IPAddress remote)
    {
        var m = mac.ToArray();
        var dst = V4(remote);
        Run(w =>
        {
            w.Begin(Rtnl.RTM_NEWNEIGH, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_REPLACE | Rtnl.NLM_F_ACK, $"adding forwarding entry {Mac(m)} → {remote} on link {vxlanIndex}");
            w.NdMsg(Rtnl.AF_BRIDGE, vxlanIndex, Rtnl.NUD_PERMANENT, Rtnl.NTF_SELF);
            w.Attr(Rtnl.NDA_LLADDR, m);
            w.Attr(Rtnl.NDA_DST, dst);
            w.End();
            w.Begin(Rtnl.RTM_NEWNEIGH, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_REPLACE | Rtnl.NLM_F_ACK, $"adding bridge entry {Mac(m)} on link {vxlanIndex}");
            w.NdMsg(Rtnl.AF_BRIDGE, vxlanIndex, Rtnl.NUD_NOARP, Rtnl.NTF_MASTER);
            w.Attr(Rtnl.NDA_LLADDR, m);
            w.End();
        });
    }

    /// <summary>Removes both entries of <see cref="SetRemote"/>; entries already gone are no error.</summary>
    public void RemoveRemote(int vxlanIndex, ReadOnlySpan<byte> mac, IPAddress remote)
    {
        var m = mac.ToArray();
        var dst = V4(remote);
        TolerateMissing(() => Run(w =>
        {
            w.Begin(Rtnl.RTM_DELNEIGH, Rtnl.NLM_F_ACK, $"removing forwarding entry {Mac(m)} on link {vxlanIndex}");
            w.NdMsg(Rtnl.AF_BRIDGE, vxlanIndex, 0, Rtnl.NTF_SELF);
            w.Attr(Rtnl.NDA_LLADDR, m);
            w.Attr(Rtnl.NDA_DST, dst);
            w.End();
        }));
        TolerateMissing(() => Run(w =>
        {
            w.Begin(Rtnl.RTM_DELNEIGH, Rtnl.NLM_F_ACK, $"removing bridge entry {Mac(m)} on link {vxlanIndex}");
            w.NdMsg(Rtnl.AF_BRIDGE, vxlanIndex, 0, Rtnl.NTF_MASTER);
            w.Attr(Rtnl.NDA_LLADDR, m);
            w.End();
        }));
    }

    /// <summary>
    /// Routes <paramref name="destination"/>/<paramref name="prefixLength"/> via <paramref name="gateway"/> on link
    /// <paramref name="index"/> (on-link: the gateway is not in any local subnet) and pins the gateway's hardware
    /// address as a permanent neighbour, in one batch; idempotent (replaces).
    /// </summary>
    public void SetOverlayRoute(IPAddress destination, int prefixLength, IPAddress gateway, ReadOnlySpan<byte> gatewayMac, int index)
    {
        if ((uint)prefixLength > 32) throw new RtException($"prefix length {prefixLength} is not 0..32");
        var m = gatewayMac.ToArray();
        Run(w =>
        {
            w.Begin(Rtnl.RTM_NEWNEIGH, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_REPLACE | Rtnl.NLM_F_ACK, $"adding neighbour {gateway} {Mac(m)} on link {index}");
            w.NdMsg(Rtnl.AF_INET, index, Rtnl.NUD_PERMANENT, 0);
            w.Attr(Rtnl.NDA_DST, V4(gateway));
            w.Attr(Rtnl.NDA_LLADDR, m);
            w.End();
            w.Begin(Rtnl.RTM_NEWROUTE, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_REPLACE | Rtnl.NLM_F_ACK, $"adding route {destination}/{prefixLength} via {gateway} on link {index}");
            w.RtMsg(Rtnl.AF_INET, (byte)prefixLength, Rtnl.RT_TABLE_MAIN, OverlayRouteProtocol, Rtnl.RT_SCOPE_UNIVERSE, Rtnl.RTN_UNICAST, Rtnl.RTNH_F_ONLINK);
            w.Attr(Rtnl.RTA_DST, V4(destination));
            w.Attr(Rtnl.RTA_GATEWAY, V4(gateway));
            w.AttrU32(Rtnl.RTA_OIF, (uint)index);
            w.End();
        });
    }

    /// <summary>Removes a route of <see cref="SetOverlayRoute"/> and its neighbour; what is gone already is no error.</summary>
    public void RemoveOverlayRoute(IPAddress destination, int prefixLength, IPAddress? gateway, int index)
    {
        TolerateMissing(() => Run(w =>
        {
            w.Begin(Rtnl.RTM_DELROUTE, Rtnl.NLM_F_ACK, $"removing route {destination}/{prefixLength} on link {index}");
            w.RtMsg(Rtnl.AF_INET, (byte)prefixLength, Rtnl.RT_TABLE_MAIN, OverlayRouteProtocol, Rtnl.RT_SCOPE_UNIVERSE, Rtnl.RTN_UNICAST);
            w.Attr(Rtnl.RTA_DST, V4(destination));
            w.AttrU32(Rtnl.RTA_OIF, (uint)index);
            w.End();
        }));
        if (gateway is null) return;
        TolerateMissing(() => Run(w =>
        {
            w.Begin(Rtnl.RTM_DELNEIGH, Rtnl.NLM_F_ACK, $"removing neighbour {gateway} on link {index}");
            w.NdMsg(Rtnl.AF_INET, index, 0, 0);
            w.Attr(Rtnl.NDA_DST, V4(gateway));
            w.End();
        }));
    }

    /// <summary>Every IPv4 route of the main table.</summary>
    public List<RouteInfo> ListRoutes()
    {
        var list = new List<RouteInfo>();
        lock (gate)
            socket.Dump(Rtnl.RTM_GETROUTE, "listing routes", w => w.RtMsg(Rtnl.AF_INET, 0, 0, 0, 0, 0), Rtnl.RTM_NEWROUTE, p =>
            {
                if (RouteRows.Parse(p) is { Table: Rtnl.RT_TABLE_MAIN } r) list.Add(r);
            });
        return list;
    }

    private static void TolerateMissing(Action a)
    {
        try
        {
            a();
        }
        catch (NetlinkException e) when (e.Errno is 2 /* ENOENT */ or 3 /* ESRCH */ or 19 /* ENODEV */)
        {
        }
    }

    private static string Mac(byte[] m) => Convert.ToHexString(m);
}
