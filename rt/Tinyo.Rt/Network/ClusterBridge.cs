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
    public static int Ensure(Rtnetlink host, string name, IPAddress gateway, int prefixLength, int mtu = 0)
    {
        var link = host.FindLink(name);
        bool created = false;
        if (link is null)
        {
            host.CreateBridge(name, mtu);
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
            if (!link.Up) host.SetUp(link.Index, true);
            return link.Index;
        }
        catch
        {
            if (created) host.TryDeleteLink(name);
            throw;
        }
    }

    /// <summary>Deletes the bridge (its addresses and routes go with it); false when there was none.</summary>
    public static bool Remove(Rtnetlink host, string name) => host.TryDeleteLink(name);
}
