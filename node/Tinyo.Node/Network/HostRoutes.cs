namespace Tinyo.Node.Network;

/// <summary>
/// The IPv4 routes of the node's network namespace (the main table, over rtnetlink), to keep a new
/// cluster subnet off address ranges the host already uses: a podman or Docker bridge, a VPN, or a bridge another
/// Tinyo node on this host (or a killed one) holds. Two bridges with one subnet make the host's routes pick one of
/// them, and the other's replicas become unreachable ("No route to host") — so such a subnet is skipped, not shared.
/// </summary>
public static class HostRoutes
{
    /// <summary>The interface and route overlapping <paramref name="subnet"/>, e.g. <c>"route 10.88.0.0/24 dev podman0"</c>; null when none does.
    /// The default route (prefix 0) is not an overlap.</summary>
    public static string? Overlapping(Ipv4Subnet subnet) => Overlapping(subnet, Read());

    /// <summary>The same over given routes (for tests).</summary>
    public static string? Overlapping(Ipv4Subnet subnet, IEnumerable<(string Dev, Ipv4Subnet Dest)> routes)
    {
        foreach (var (dev, dest) in routes)
        {
            if (dest.PrefixLength == 0) continue;
            uint mask = Math.Min(dest.PrefixLength, subnet.PrefixLength) switch { 0 => 0u, var p => uint.MaxValue << (32 - p) };
            if ((dest.Base & mask) == (subnet.Base & mask)) return $"route {dest} dev {dev}";
        }
        return null;
    }

    /// <summary>The main table's IPv4 routes with their interfaces' names, over rtnetlink (the dump the overlay already
    /// uses), or none when the dump fails (nothing is then skipped).</summary>
    public static List<(string Dev, Ipv4Subnet Dest)> Read()
    {
        var list = new List<(string, Ipv4Subnet)>();
        try
        {
            using var nl = Rt.Network.Rtnetlink.OpenCurrent();
            var names = nl.ListLinks().ToDictionary(l => l.Index, l => l.Name);
            foreach (var r in nl.ListRoutes())
            {
                uint d = Ipv4Subnet.ToUInt(r.Destination);
                int prefix = r.PrefixLength;
                list.Add((names.GetValueOrDefault(r.Oif, $"#{r.Oif}"), new Ipv4Subnet(prefix == 0 ? 0 : d & (uint.MaxValue << (32 - prefix)), prefix)));
            }
        }
        catch (Exception e) when (e is Rt.RtException or IOException)
        {
            // no answer: no subnet is held back
        }
        return list;
    }
}
