using System.Net;
using Tinyo.Linux;
using Tinyo.Rt.Network.Netlink;

namespace Tinyo.Rt.Network;

/// <summary>
/// Links, addresses and routes of one network namespace, configured over rtnetlink (a NETLINK_ROUTE socket: no
/// <c>ip</c> process). The namespace is the one the socket was created in: <see cref="OpenCurrent"/> for the calling
/// thread's (the host's, for the node), <see cref="NetworkNamespace.Netlink"/> for a replica's or a test's.
/// Each method is one request (or one batch) acknowledged by the kernel; a refusal throws a
/// <see cref="NetlinkException"/> naming the operation and errno. Thread-safe (one request at a time).
/// </summary>
public sealed partial class Rtnetlink : IDisposable
{
    private readonly NetlinkSocket socket;
    private readonly Lock gate = new();

    private Rtnetlink(NetlinkSocket socket) => this.socket = socket;

    /// <summary>A client for the network namespace of the calling thread.</summary>
    public static Rtnetlink OpenCurrent() => new(NetlinkSocket.Open());

    internal static Rtnetlink Wrap(NetlinkSocket socket) => new(socket);

    /// <summary>Creates a bridge (down, no address); returns its ifindex. With <paramref name="mac"/> (6 bytes) its
    /// hardware address is set, and the kernel then keeps it whatever ports come and go.</summary>
    public int CreateBridge(string name, int mtu = 0, byte[]? mac = null)
    {
        CheckName(name);
        if (mac is { Length: not 6 }) throw new RtException($"bridge {name}: a hardware address has 6 bytes, not {mac.Length}");
        Run(w =>
        {
            w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL | Rtnl.NLM_F_ACK, $"creating bridge {name}");
            w.IfInfo(0);
            w.AttrString(Rtnl.IFLA_IFNAME, name);
            if (mtu > 0) w.AttrU32(Rtnl.IFLA_MTU, (uint)mtu);
            if (mac is not null) w.Attr(Rtnl.IFLA_ADDRESS, mac);
            var li = w.BeginNested(Rtnl.IFLA_LINKINFO);
            w.AttrString(Rtnl.IFLA_INFO_KIND, "bridge");
            w.EndNested(li);
            w.End();
        });
        return LinkIndex(name);
    }

    /// <summary>
    /// Creates a veth pair in one request: <paramref name="hostName"/> here, enslaved to <paramref name="master"/>
    /// (a bridge's ifindex, 0 for none) and up unless <paramref name="hostUp"/> is false (a
    /// <see cref="ReplicaNetworkPool"/> keeps its waiting ends down so they can be renamed when claimed); its peer
    /// <paramref name="peerName"/> directly inside the network namespace <paramref name="peerNetnsFd"/> (-1: here
    /// too), down (see <see cref="SetUp"/>).
    /// </summary>
    public void CreateVethPair(string hostName, string peerName, int peerNetnsFd = -1, int master = 0, int mtu = 0, bool hostUp = true)
    {
        CheckName(hostName);
        CheckName(peerName);
        Run(w =>
        {
            w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL | Rtnl.NLM_F_ACK, $"creating veth pair {hostName}/{peerName}");
            if (hostUp) w.IfInfo(0, Rtnl.IFF_UP, Rtnl.IFF_UP);
            else w.IfInfo(0);
            w.AttrString(Rtnl.IFLA_IFNAME, hostName);
            if (mtu > 0) w.AttrU32(Rtnl.IFLA_MTU, (uint)mtu);
            if (master > 0) w.AttrU32(Rtnl.IFLA_MASTER, (uint)master);
            var li = w.BeginNested(Rtnl.IFLA_LINKINFO);
            w.AttrString(Rtnl.IFLA_INFO_KIND, "veth");
            var data = w.BeginNested(Rtnl.IFLA_INFO_DATA);
            var peer = w.BeginNested(Rtnl.VETH_INFO_PEER);
            // The peer cannot come up here: the kernel configures it before the pair is linked, and veth_open()
            // refuses a device without a peer (ENOTCONN). It is set up from its own namespace afterwards.
            w.IfInfo(0);
            w.AttrString(Rtnl.IFLA_IFNAME, peerName);
            if (mtu > 0) w.AttrU32(Rtnl.IFLA_MTU, (uint)mtu);
            if (peerNetnsFd >= 0) w.AttrU32(Rtnl.IFLA_NET_NS_FD, (uint)peerNetnsFd);
            w.EndNested(peer);
            w.EndNested(data);
            w.EndNested(li);
            w.End();
        });
    }

    /// <summary>
    /// Claims an idle pooled veth end in one message: renames link <paramref name="index"/> to
    /// <paramref name="newName"/> (the kernel renames before it changes flags or the master, and a link must be down
    /// to be renamed), sets it up and enslaves it to <paramref name="master"/> (the kernel does nothing when it is
    /// that bridge's port already: a pool made for the bridge).
    /// </summary>
    internal void AdoptIdleVeth(int index, string newName, int master) => Run(w =>
    {
        w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_ACK, $"attaching pooled veth {index} as {newName} to bridge {master}");
        w.IfInfo(index, Rtnl.IFF_UP, Rtnl.IFF_UP);
        w.AttrString(Rtnl.IFLA_IFNAME, newName);
        w.AttrU32(Rtnl.IFLA_MASTER, (uint)master);
        w.End();
    });

    /// <summary>Sets <c>lo</c> and link <paramref name="index"/> up in one batch (a pooled namespace's side).</summary>
    internal void SetLoopbackAndLinkUp(int index) => Run(w =>
    {
        w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_ACK, "setting lo up");
        w.IfInfo(1, Rtnl.IFF_UP, Rtnl.IFF_UP);
        w.End();
        w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_ACK, $"setting link {index} up");
        w.IfInfo(index, Rtnl.IFF_UP, Rtnl.IFF_UP);
        w.End();
    });

    /// <summary>The address and the default route via <paramref name="gateway"/> on link <paramref name="index"/>,
    /// in one batch (a claimed pooled namespace: its links are up already).</summary>
    internal void AddAddressAndDefaultRoute(int index, IPAddress address, int prefixLength, IPAddress gateway) => Run(w =>
    {
        WriteAddAddress(w, index, address, prefixLength);
        WriteAddRoute(w, null, 0, gateway, index);
    });

    /// <summary>Deletes a link by index (a pooled veth, whose name the pool knows only by number); false when gone.</summary>
    internal bool TryDeleteLink(int index)
    {
        try
        {
            Run(w =>
            {
                w.Begin(Rtnl.RTM_DELLINK, Rtnl.NLM_F_ACK, $"deleting link {index}");
                w.IfInfo(index);
                w.End();
            });
            return true;
        }
        catch (NetlinkException e) when (e.Errno == 19 /* ENODEV */)
        {
            return false;
        }
    }

    /// <summary>Sets a link up or down.</summary>
    public void SetUp(int index, bool up) => Run(w =>
    {
        w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_ACK, $"setting link {index} {(up ? "up" : "down")}");
        w.IfInfo(index, up ? Rtnl.IFF_UP : 0, Rtnl.IFF_UP);
        w.End();
    });

    /// <summary>Sets a link's hardware address (6 bytes).</summary>
    public void SetMac(int index, byte[] mac) => Run(w =>
    {
        w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_ACK, $"setting the hardware address of link {index}");
        w.IfInfo(index);
        w.Attr(Rtnl.IFLA_ADDRESS, mac);
        w.End();
    });

    /// <summary>Sets a link's MTU.</summary>
    public void SetMtu(int index, int mtu) => Run(w =>
    {
        w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_ACK, $"setting the MTU of link {index} to {mtu}");
        w.IfInfo(index);
        w.AttrU32(Rtnl.IFLA_MTU, (uint)mtu);
        w.End();
    });

    /// <summary>Enslaves a link to a bridge (0: releases it).</summary>
    public void SetMaster(int index, int master) => Run(w =>
    {
        w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_ACK, $"attaching link {index} to bridge {master}");
        w.IfInfo(index);
        w.AttrU32(Rtnl.IFLA_MASTER, (uint)master);
        w.End();
    });

    /// <summary>Renames a link (it must be down).</summary>
    public void Rename(int index, string newName)
    {
        CheckName(newName);
        Run(w =>
        {
            w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_ACK, $"renaming link {index} to {newName}");
            w.IfInfo(index);
            w.AttrString(Rtnl.IFLA_IFNAME, newName);
            w.End();
        });
    }

    /// <summary>Moves a link into the network namespace <paramref name="netnsFd"/>, optionally renaming it there
    /// (it arrives down).</summary>
    public void MoveToNamespace(int index, int netnsFd, string? newName = null)
    {
        if (newName is not null) CheckName(newName);
        Run(w =>
        {
            w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_ACK, $"moving link {index} to another network namespace");
            w.IfInfo(index);
            w.AttrU32(Rtnl.IFLA_NET_NS_FD, (uint)netnsFd);
            if (newName is not null) w.AttrString(Rtnl.IFLA_IFNAME, newName);
            w.End();
        });
    }

    /// <summary>Deletes a link by name (a veth takes its peer along, a bridge releases its ports).</summary>
    public void DeleteLink(string name)
    {
        CheckName(name);
        Run(w =>
        {
            w.Begin(Rtnl.RTM_DELLINK, Rtnl.NLM_F_ACK, $"deleting link {name}");
            w.IfInfo(0);
            w.AttrString(Rtnl.IFLA_IFNAME, name);
            w.End();
        });
    }

    /// <summary>Deletes a link by name; false when there is none.</summary>
    public bool TryDeleteLink(string name)
    {
        try
        {
            DeleteLink(name);
            return true;
        }
        catch (NetlinkException e) when (e.Errno == 19 /* ENODEV */)
        {
            return false;
        }
    }

    /// <summary>Adds an IPv4 address with its prefix length (the subnet's broadcast address is set too).</summary>
    public void AddAddress(int index, IPAddress address, int prefixLength) => Run(w => WriteAddAddress(w, index, address, prefixLength));

    /// <summary>Adds a route: to <paramref name="destination"/>/<paramref name="prefixLength"/> (null/0: the
    /// default route) via <paramref name="gateway"/> (null: directly on the link) out of link <paramref name="index"/>.</summary>
    public void AddRoute(IPAddress? destination, int prefixLength, IPAddress? gateway, int index) =>
        Run(w => WriteAddRoute(w, destination, prefixLength, gateway, index));

    /// <summary>The ifindex of a link by name; throws (ENODEV) when there is none.</summary>
    public int LinkIndex(string name) => GetLink(name).Index;

    /// <summary>One link by name; throws (ENODEV) when there is none.</summary>
    public LinkInfo GetLink(string name)
    {
        CheckName(name);
        LinkInfo? found = null;
        lock (gate)
            socket.Query(Rtnl.RTM_GETLINK, $"looking up link {name}", w =>
            {
                w.IfInfo(0);
                w.AttrString(Rtnl.IFLA_IFNAME, name);
            }, Rtnl.RTM_NEWLINK, p => found = NetlinkParse.Link(p));
        return found!;
    }

    /// <summary>One link by name, null when there is none.</summary>
    public LinkInfo? FindLink(string name)
    {
        try
        {
            return GetLink(name);
        }
        catch (NetlinkException e) when (e.Errno == 19 /* ENODEV */)
        {
            return null;
        }
    }

    /// <summary>Every link of the namespace.</summary>
    public List<LinkInfo> ListLinks()
    {
        var list = new List<LinkInfo>();
        lock (gate)
            socket.Dump(Rtnl.RTM_GETLINK, "listing links", w => w.IfInfo(0), Rtnl.RTM_NEWLINK, p => list.Add(NetlinkParse.Link(p)));
        return list;
    }

    /// <summary>Every IPv4 address of the namespace.</summary>
    public List<AddressInfo> ListAddresses()
    {
        var list = new List<AddressInfo>();
        lock (gate)
            socket.Dump(Rtnl.RTM_GETADDR, "listing addresses", w => w.IfAddr(Rtnl.AF_INET, 0, 0, 0), Rtnl.RTM_NEWADDR, p =>
            {
                if (NetlinkParse.Address(p) is { } a) list.Add(a);
            });
        return list;
    }

    /// <summary>
    /// Configures a fresh replica namespace's side in one batch: <c>lo</c> and link <paramref name="index"/> up, the
    /// address on it, and the default route via <paramref name="gateway"/>.
    /// </summary>
    internal void ConfigureReplicaSide(int index, IPAddress address, int prefixLength, IPAddress gateway) => Run(w =>
    {
        w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_ACK, "setting lo up");
        w.IfInfo(1, Rtnl.IFF_UP, Rtnl.IFF_UP); // lo is ifindex 1 in every network namespace
        w.End();
        w.Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_ACK, $"setting link {index} up");
        w.IfInfo(index, Rtnl.IFF_UP, Rtnl.IFF_UP);
        w.End();
        WriteAddAddress(w, index, address, prefixLength);
        WriteAddRoute(w, null, 0, gateway, index);
    });

    private static void WriteAddAddress(NetlinkWriter w, int index, IPAddress address, int prefixLength)
    {
        var a = V4(address);
        if ((uint)prefixLength > 32) throw new RtException($"prefix length {prefixLength} is not 0..32");
        w.Begin(Rtnl.RTM_NEWADDR, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL | Rtnl.NLM_F_ACK, $"adding address {address}/{prefixLength} to link {index}");
        w.IfAddr(Rtnl.AF_INET, (byte)prefixLength, Rtnl.RT_SCOPE_UNIVERSE, index);
        w.Attr(Rtnl.IFA_LOCAL, a);
        w.Attr(Rtnl.IFA_ADDRESS, a);
        if (prefixLength <= 30)
        {
            uint host = prefixLength == 0 ? uint.MaxValue : (1u << (32 - prefixLength)) - 1;
            uint bcast = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(a) | host;
            Span<byte> b = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b, bcast);
            w.Attr(Rtnl.IFA_BROADCAST, b);
        }
        w.End();
    }

    private static void WriteAddRoute(NetlinkWriter w, IPAddress? destination, int prefixLength, IPAddress? gateway, int index)
    {
        if ((uint)prefixLength > 32) throw new RtException($"prefix length {prefixLength} is not 0..32");
        var what = $"adding route {(destination is null ? "default" : $"{destination}/{prefixLength}")}{(gateway is null ? "" : $" via {gateway}")} on link {index}";
        w.Begin(Rtnl.RTM_NEWROUTE, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL | Rtnl.NLM_F_ACK, what);
        w.RtMsg(Rtnl.AF_INET, (byte)(destination is null ? 0 : prefixLength), Rtnl.RT_TABLE_MAIN, Rtnl.RTPROT_BOOT,
            gateway is null ? Rtnl.RT_SCOPE_LINK : Rtnl.RT_SCOPE_UNIVERSE, Rtnl.RTN_UNICAST);
        if (destination is not null) w.Attr(Rtnl.RTA_DST, V4(destination));
        if (gateway is not null) w.Attr(Rtnl.RTA_GATEWAY, V4(gateway));
        w.AttrU32(Rtnl.RTA_OIF, (uint)index);
        w.End();
    }

    private void Run(Action<NetlinkWriter> build)
    {
        lock (gate)
        {
            var w = socket.NewBatch();
            build(w);
            socket.Execute(w);
        }
    }

    private static byte[] V4(IPAddress a) =>
        a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? a.GetAddressBytes() : throw new RtException($"{a} is not an IPv4 address");

    /// <summary>Interface names: 1..15 bytes, no '/', ':', or whitespace (the kernel's dev_valid_name).</summary>
    public static void CheckName(string name)
    {
        if (name.Length is 0 or > 15 || name is "." or ".." || name.AsSpan().IndexOfAny("/: \t\n\0") >= 0 || !System.Text.Ascii.IsValid(name))
            throw new RtException($"invalid interface name '{name}' (1-15 ASCII characters, no '/', ':' or spaces)");
    }

    /// <inheritdoc/>
    public void Dispose() => socket.Dispose();
}
