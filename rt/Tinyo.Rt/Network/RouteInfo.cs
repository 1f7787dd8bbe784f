using System.Net;

namespace Tinyo.Rt.Network;

/// <summary>An IPv4 route as the kernel lists it.</summary>
/// <param name="Destination">Destination network (0.0.0.0 for the default route).</param>
/// <param name="PrefixLength">Its prefix length.</param>
/// <param name="Gateway">Next hop, null when the destination is on the link.</param>
/// <param name="Oif">ifindex of the outgoing interface, 0 when none.</param>
/// <param name="Protocol">Who made it (rtm_protocol): <see cref="Rtnetlink.OverlayRouteProtocol"/> for overlay routes.</param>
/// <param name="Table">Routing table id.</param>
/// <param name="OnLink">Whether the next hop is declared on the link (RTNH_F_ONLINK).</param>
public sealed record RouteInfo(IPAddress Destination, int PrefixLength, IPAddress? Gateway, int Oif, byte Protocol, uint Table, bool OnLink);
