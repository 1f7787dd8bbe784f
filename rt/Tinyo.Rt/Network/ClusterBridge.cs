using System.Net;

namespace Tinyo.Rt.Network;

/// <summary>
/// A cluster's bridge on a node: every replica of the cluster has one veth end on it, and it carries the cluster's
/// gateway address (the replicas' default route, the DNS responder's address).
/// </summary>
public static class ClusterBridge
{
    /// <summary>
    /// Makes sure bridge <paramref name="name"/> exists, carries <paramref name="gateway"/>/<paramref name="prefixLength"/>
    /// and is up (idempotent: a node restarted after kill -9 finds its bridge as it left it). Returns its ifindex.
    /// A bridge this call created is deleted again if a later step fails.
    /// </summary>
    /// <remarks>
    /// The bridge gets a fixed hardware address (<see cref="MacFor"/>): left to itself, a Linux bridge takes the
    /// lowest address of its ports and changes it whenever that port leaves — with a <see cref="ReplicaNetworkPool"/>
    /// ports come and go all the time (and all of a node's pooled ones go at once when it is killed) — and every
    /// replica's neighbour entry for the gateway then points at an address the bridge no longer answers to, until
    /// the kernel re-probes it seconds later: DNS and egress stall. A set address is kept (NET_ADDR_SET).
    /// </remarks>
    public static int Ensure(Rtnetlink host, string name, IPAddress gateway, int prefixLength, int mtu = 0)
    {
        var link = host.FindLink(name);
        bool created = false;
        var mac = MacFor(name);
        if (link is null)
        {
            host.CreateBridge(name, mtu, mac);
            created = true;
            link = host.GetLink(name);
        }
        else if (link.Kind != "bridge")
        {
            throw new RtException($"link {name} exists and is a {link.Kind ?? "device"}, not a bridge");
        }
        try
        {
            bool has = false;
            foreach (var a in host.ListAddresses())
                if (a.Index == link.Index && a.Address.Equals(gateway) && a.PrefixLength == prefixLength) has = true;
            if (!has) host.AddAddress(link.Index, gateway, prefixLength);
            if (!created && link.Mac != Convert.ToHexString(mac)) host.SetMac(link.Index, mac); // one made before this rule
            if (!link.Up) host.SetUp(link.Index, true);
            return link.Index;
        }
        catch
        {
            if (created) host.TryDeleteLink(name);
            throw;
        }
    }

    /// <summary>A locally administered unicast address (02:…) from an FNV-1a hash of the bridge's name: stable
    /// across restarts, so replicas' neighbour entries stay right when a node comes back.</summary>
    public static byte[] MacFor(string bridge)
    {
        ulong h = 14695981039346656037;
        foreach (char c in bridge)
        {
            h ^= c;
            h *= 1099511628211;
        }
        return [0x02, (byte)(h >> 32), (byte)(h >> 24), (byte)(h >> 16), (byte)(h >> 8), (byte)h];
    }

    /// <summary>Deletes the bridge (its addresses and routes go with it); false when there was none.</summary>
    public static bool Remove(Rtnetlink host, string name) => host.TryDeleteLink(name);
}
