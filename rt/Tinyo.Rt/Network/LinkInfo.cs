using System.Net;

namespace Tinyo.Rt.Network;

/// <summary>A network interface as the kernel lists it.</summary>
/// <param name="Index">ifindex (per network namespace).</param>
/// <param name="Name">Interface name.</param>
/// <param name="Kind">Link kind from IFLA_INFO_KIND ("bridge", "veth"), null for physical or loopback devices.</param>
/// <param name="Mtu">MTU in bytes.</param>
/// <param name="Up">Administratively up (IFF_UP).</param>
/// <param name="Master">ifindex of the bridge it is enslaved to, 0 when none.</param>
/// <param name="Link">IFLA_LINK: for a veth, the peer's ifindex (in the peer's namespace).</param>
/// <param name="Mac">Hardware address in hex, empty when none.</param>
public sealed record LinkInfo(int Index, string Name, string? Kind, int Mtu, bool Up, int Master, int Link, string Mac);

/// <summary>An IPv4 address of an interface.</summary>
/// <param name="Index">ifindex of the interface.</param>
/// <param name="Address">The address.</param>
/// <param name="PrefixLength">Prefix length of its subnet.</param>
/// <param name="Label">IFA_LABEL (usually the interface name).</param>
public sealed record AddressInfo(int Index, IPAddress Address, int PrefixLength, string? Label)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Address}/{PrefixLength}";
}
