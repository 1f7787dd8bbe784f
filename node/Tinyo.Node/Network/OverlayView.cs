using System.Globalization;
using System.Net;
using Tinyo.Api;
using Tinyo.Api.Cluster;

namespace Tinyo.Node.Network;

/// <summary>Another node's subnet of a cluster, and where that node is.</summary>
/// <param name="Node">The other node's name.</param>
/// <param name="Subnet">Its subnet of the cluster (from IPAM).</param>
/// <param name="Address">Its registered address: where VXLAN frames for the subnet go.</param>
public sealed record OverlayPeer(string Node, Ipv4Subnet Subnet, IPAddress Address)
{
    /// <summary>The bridge address of that subnet on that node: the next hop of the route to it.</summary>
    public IPAddress Gateway => Ipv4Subnet.ToAddress(Subnet.Base + 1);
}

/// <summary>
/// What the overlay of one node should look like, computed from a KV snapshot (pure: no I/O, unit-tested and fuzzed,
/// target <c>overlay</c>): per cluster, the other ready nodes that hold a subnet of it with their addresses; per
/// cluster, the replicas on other ready nodes by name (from their status records, each replica's address attributed
/// to the cluster whose subnet on that node contains it). Records that do not parse are skipped and counted, never
/// thrown: one bad record must not cut every cluster off.
/// </summary>
public sealed class OverlayView
{
    private readonly Dictionary<string, List<OverlayPeer>> peers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, List<DnsReplica>>> names = new(StringComparer.Ordinal);

    /// <summary>Records skipped because they did not parse (logged by the caller).</summary>
    public int Skipped { get; private set; }

    /// <summary>Addresses of every other ready node (whose VXLAN packets are accepted).</summary>
    public IReadOnlyList<IPAddress> NodeAddresses { get; private set; } = [];

    /// <summary>The other ready nodes holding a subnet of <paramref name="cluster"/>, by node name.</summary>
    public IReadOnlyList<OverlayPeer> PeersOf(string cluster) => peers.TryGetValue(cluster, out var l) ? l : [];

    /// <summary>Replicas of <paramref name="cluster"/> on other ready nodes, by app.</summary>
    public IReadOnlyDictionary<string, List<DnsReplica>> RemoteNamesOf(string cluster)
        => names.TryGetValue(cluster, out var d) ? d : new Dictionary<string, List<DnsReplica>>();

    /// <summary>
    /// The view of node <paramref name="self"/>: <paramref name="subnets"/> are IPAM's records (key
    /// <c>NODE/CLUSTER</c> after <c>/tinyo/ipam/clusters/</c>, value <c>A.B.C.D/N</c>).
    /// </summary>
    public static OverlayView Compute(string self, IReadOnlyList<(string Key, string Value)> subnets, IReadOnlySet<string> alive,
        IReadOnlyList<NodeRecord> nodes, IReadOnlyList<(string Key, AppStatus Status)> status)
    {
        var v = new OverlayView();
        var addresses = new Dictionary<string, IPAddress>(StringComparer.Ordinal);
        foreach (var n in nodes)
        {
            if (n.Name == self || !alive.Contains(n.Name)) continue;
            if (IPAddress.TryParse(n.Address, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
                && !IPAddress.IsLoopback(ip) && !ip.Equals(IPAddress.Any) && !ip.Equals(IPAddress.Broadcast))
                addresses[n.Name] = ip;
        }
        v.NodeAddresses = [.. addresses.Values.Distinct().OrderBy(a => a.ToString(), StringComparer.Ordinal)];
        // (node, subnet) → cluster, to attribute status addresses.
        var byNode = new Dictionary<string, List<(Ipv4Subnet Subnet, string Cluster)>>(StringComparer.Ordinal);
        foreach (var (key, value) in subnets)
        {
            if (!TryParseSubnetRecord(key, value, out var node, out var cluster, out var subnet))
            {
                v.Skipped++;
                continue;
            }
            if (!addresses.TryGetValue(node, out var addr)) continue;
            if (!v.peers.TryGetValue(cluster, out var list)) v.peers[cluster] = list = [];
            list.Add(new OverlayPeer(node, subnet, addr));
            if (!byNode.TryGetValue(node, out var s)) byNode[node] = s = [];
            s.Add((subnet, cluster));
        }
        foreach (var list in v.peers.Values) list.Sort((a, b) => string.CompareOrdinal(a.Node, b.Node));
        foreach (var (key, st) in status)
        {
            var slash = key.IndexOf('/');
            if (slash <= 0 || st?.Containers is null) continue;
            if (!byNode.TryGetValue(key[..slash], out var held)) continue;
            var app = key[(slash + 1)..];
            if (app.Length == 0) continue;
            foreach (var c in st.Containers)
            {
                if (c?.Address is not { } a || !IPAddress.TryParse(a, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork) continue;
                if (!TryIndex(app, c.Name, out var index)) continue;
                var u = Ipv4Subnet.ToUInt(ip);
                foreach (var (subnet, cluster) in held)
                    if (subnet.Contains(u))
                    {
                        if (!v.names.TryGetValue(cluster, out var apps)) v.names[cluster] = apps = new(StringComparer.OrdinalIgnoreCase);
                        if (!apps.TryGetValue(app, out var reps)) apps[app] = reps = [];
                        reps.Add(new DnsReplica(index, ip, c.State == "running" && c.Health != "unhealthy"));
                        break;
                    }
            }
        }
        return v;
    }

    /// <summary>Parses one IPAM cluster record: key <c>NODE/CLUSTER</c>, value <c>A.B.C.D/N</c> (IPv4, host bits clear).</summary>
    public static bool TryParseSubnetRecord(string key, string value, out string node, out string cluster, out Ipv4Subnet subnet)
    {
        node = cluster = "";
        subnet = default;
        var slash = key.IndexOf('/');
        if (slash <= 0 || slash == key.Length - 1 || key.IndexOf('/', slash + 1) >= 0) return false;
        node = key[..slash];
        cluster = key[(slash + 1)..];
        if (!ValidName(node) || !ValidName(cluster)) return false;
        try
        {
            subnet = Ipv4Subnet.Parse(value.Trim());
        }
        catch (NodeException)
        {
            return false;
        }
        return subnet.PrefixLength is >= 8 and <= 30;
    }

    /// <summary>N of a replica named <c>APP-N</c> (N ≥ 1).</summary>
    private static bool TryIndex(string app, string? replica, out int index)
    {
        index = 0;
        return replica is not null && replica.Length > app.Length + 1 && replica.StartsWith(app, StringComparison.Ordinal) && replica[app.Length] == '-'
            && int.TryParse(replica.AsSpan(app.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out index) && index >= 1;
    }

    private static bool ValidName(string s)
    {
        bool ok = s.Length is > 0 and <= 63 && s[0] is not ('.' or '-');
        foreach (var c in s) ok &= char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-';
        return ok;
    }
}
