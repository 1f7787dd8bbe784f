using System.Globalization;
using System.Net;
using Tinyo.Node.Store;

namespace Tinyo.Node.Network;

/// <summary>Whether and how a node runs the <see cref="ClusterOverlay"/>: only a clusterable node (one with an
/// IPv4 <c>--addr</c>, the address other nodes reach it at) has other nodes to connect its clusters to.</summary>
public static class OverlaySetup
{
    /// <summary>Starts the overlay of a clusterable node; null for a node without an IPv4 address.</summary>
    public static ClusterOverlay? Start(NodeOptions options, ClusterNetworks networks, StateStore store)
    {
        if (options.Address is not { } a || !IPAddress.TryParse(a, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork
            || IPAddress.IsLoopback(ip))
            return null;
        var port = int.TryParse(Environment.GetEnvironmentVariable("TINYO_VXLAN_PORT"), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536 ? p : 4789;
        var overlay = new ClusterOverlay(new ClusterOverlayOptions
        {
            Node = options.Name,
            Address = ip,
            Networks = networks,
            Store = new OverlayStore(store),
            Port = port,
            Log = options.Log,
        });
        overlay.Start();
        return overlay;
    }
}
