using System.Buffers.Binary;
using System.Globalization;

namespace Tinyo.Node.Network;

/// <summary>
/// The IPv4 routes of the node's network namespace, read from <c>/proc/net/route</c> (the main table), to keep a new
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

    /// <summary>The routes of <c>/proc/net/route</c>, or none when it cannot be read (nothing is then skipped).</summary>
    public static List<(string Dev, Ipv4Subnet Dest)> Read(string path = "/proc/net/route")
    {
        var list = new List<(string, Ipv4Subnet)>();
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return list;
        }
        // Iface Destination Gateway Flags RefCnt Use Metric Mask …; addresses as the kernel's u32 in host (little-endian) order.
        foreach (var line in lines.Skip(1))
        {
            var f = line.Split('\t', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (f.Length < 8 ||
                !uint.TryParse(f[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var dst) ||
                !uint.TryParse(f[7], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var mask)) continue;
            uint d = BinaryPrimitives.ReverseEndianness(dst), m = BinaryPrimitives.ReverseEndianness(mask);
            int prefix = System.Numerics.BitOperations.PopCount(m);
            list.Add((f[0], new Ipv4Subnet(prefix == 0 ? 0 : d & (uint.MaxValue << (32 - prefix)), prefix)));
        }
        return list;
    }
}
