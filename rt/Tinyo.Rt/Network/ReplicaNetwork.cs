using System.Net;

namespace Tinyo.Rt.Network;

/// <summary>What a replica's network namespace gets: its address in the cluster's subnet, the bridge it hangs on.</summary>
/// <param name="NetnsPath">File the namespace is mounted on (ROOT/netns/ID).</param>
/// <param name="HostVeth">Name of the host end of the veth pair (see <see cref="VethName"/>).</param>
/// <param name="BridgeIndex">ifindex of the cluster's bridge.</param>
/// <param name="Address">The replica's address.</param>
/// <param name="PrefixLength">The cluster subnet's prefix length.</param>
/// <param name="Gateway">The bridge's address: the replica's default route.</param>
/// <param name="Mtu">MTU of both veth ends (0: the kernel's default, 1500).</param>
public sealed record ReplicaNetworkSpec(string NetnsPath, string HostVeth, int BridgeIndex, IPAddress Address, int PrefixLength, IPAddress Gateway, int Mtu = 0);

/// <summary>
/// Prepares a replica's network namespace before its container starts, as a CNI bridge plugin does: a new persistent
/// namespace, a veth pair whose host end is up on the bridge and whose peer is born inside it as <c>eth0</c>; then
/// <c>lo</c> and <c>eth0</c> up, the address and the default route via the bridge in one batch — three netlink round
/// trips and no process. The container then joins the
/// namespace by path.
/// </summary>
public static class ReplicaNetwork
{
    /// <summary>Name of the replica's interface inside its namespace.</summary>
    public const string Interface = "eth0";

    /// <summary>
    /// Creates and configures the namespace of <paramref name="spec"/> from the host namespace <paramref name="host"/>.
    /// On failure nothing is left (no namespace file, no veth) and the error names the step. Returns how long each
    /// phase took (for the set-up benchmark; three timestamps, no cost worth counting).
    /// </summary>
    public static ReplicaSetupTimes Prepare(Rtnetlink host, ReplicaNetworkSpec spec)
    {
        Rtnetlink.CheckName(spec.HostVeth);
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        var ns = NetworkNamespace.Create(spec.NetnsPath);
        long t1 = System.Diagnostics.Stopwatch.GetTimestamp(), t2;
        bool veth = false;
        try
        {
            host.CreateVethPair(spec.HostVeth, Interface, ns.Fd, spec.BridgeIndex, spec.Mtu);
            veth = true;
            t2 = System.Diagnostics.Stopwatch.GetTimestamp();
            int eth0 = ns.Netlink.LinkIndex(Interface);
            ns.Netlink.ConfigureReplicaSide(eth0, spec.Address, spec.PrefixLength, spec.Gateway);
        }
        catch
        {
            ns.Dispose();
            // Deleting the host end takes the peer along at once; the namespace's own teardown would too, but later.
            if (veth) host.TryDeleteLink(spec.HostVeth);
            NetworkNamespace.Remove(spec.NetnsPath);
            throw;
        }
        ns.Dispose();
        long t3 = System.Diagnostics.Stopwatch.GetTimestamp();
        return new ReplicaSetupTimes(System.Diagnostics.Stopwatch.GetElapsedTime(t0, t1), System.Diagnostics.Stopwatch.GetElapsedTime(t1, t2),
            System.Diagnostics.Stopwatch.GetElapsedTime(t2, t3));
    }

    /// <summary>
    /// Removes what <see cref="Prepare"/> made: the veth pair and the namespace file. Idempotent (a replica removed
    /// twice, or half-made before a crash, is fine); true when something was there.
    /// </summary>
    public static bool Remove(Rtnetlink host, string netnsPath, string hostVeth)
    {
        bool any = host.TryDeleteLink(hostVeth);
        any |= NetworkNamespace.Remove(netnsPath);
        return any;
    }
}

/// <summary>Where the time of one <see cref="ReplicaNetwork.Prepare"/> went.</summary>
/// <param name="Namespace">unshare + bind mount + fd + netlink socket inside (on the namespace thread).</param>
/// <param name="Veth">The veth pair (one RTM_NEWLINK).</param>
/// <param name="Configure">eth0's index, then lo/eth0 up, address and default route (one batch).</param>
public readonly record struct ReplicaSetupTimes(TimeSpan Namespace, TimeSpan Veth, TimeSpan Configure)
{
    /// <summary>The whole set-up.</summary>
    public TimeSpan Total => Namespace + Veth + Configure;

    /// <summary>True when the namespace came from a <see cref="ReplicaNetworkPool"/>: then <see cref="Namespace"/>
    /// is the bind mount of a ready namespace, <see cref="Veth"/> the rename + up + bridge of its waiting host end,
    /// and <see cref="Configure"/> the address and route.</summary>
    public bool Pooled { get; init; }
}

/// <summary>Host-side veth names: the kernel allows 15 bytes, replica ids are longer.</summary>
public static class VethName
{
    /// <summary>Prefix of every host-side veth Tinyo makes (how leftovers are recognised).</summary>
    public const string Prefix = "tv";

    /// <summary>"tv" + 12 hex digits of a 64-bit FNV-1a hash of <paramref name="replicaId"/>: stable across node
    /// restarts (so a restarted node finds the veth of a replica), short enough, collisions negligible (and refused
    /// by the kernel with EEXIST rather than shared).</summary>
    public static string For(string replicaId)
    {
        ulong h = 14695981039346656037;
        foreach (char c in replicaId)
        {
            h ^= c;
            h *= 1099511628211;
        }
        return Prefix + (h & 0xFFFF_FFFF_FFFF).ToString("x12", System.Globalization.CultureInfo.InvariantCulture);
    }
}
