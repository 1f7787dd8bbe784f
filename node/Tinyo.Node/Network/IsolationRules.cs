using System.Globalization;
using System.Net;
using System.Text;

namespace Tinyo.Node.Network;

/// <summary>One cluster network on this node, as the isolation rules see it.</summary>
/// <param name="Name">Cluster name (for comments).</param>
/// <param name="Bridge">Its bridge's interface name.</param>
/// <param name="Subnet">Its subnet on this node.</param>
/// <param name="Gateway">The bridge's address.</param>
/// <param name="Egress">Whether replicas may reach beyond the node (masqueraded); false drops everything they send
/// that would be forwarded (they still reach each other over their bridge, and the DNS responder).</param>
public sealed record IsolatedCluster(string Name, string Bridge, Ipv4Subnet Subnet, IPAddress Gateway, bool Egress = true);

/// <summary>
/// The node's nftables ruleset for cluster networks, as text for <c>nft -f -</c>: one table of ours (family inet,
/// default name <c>tinyo</c>), replaced whole and atomically on every apply (the <c>table; delete table; table {…}</c>
/// idiom is one nft transaction), deleted whole on teardown; nothing outside it is touched.
/// <list type="bullet">
/// <item>forward: a packet entering from one cluster's bridge and leaving by another's is dropped — in both
/// directions, since each bridge has its rule; with egress off, everything a cluster's bridge would forward is
/// dropped (except back out of its own bridge: to its subnets on other nodes, through the overlay's VXLAN port).
/// Traffic between replicas of one cluster on one node is switched by the bridge and never reaches this hook.</item>
/// <item>input: from any cluster bridge, TCP to the node's own ports (API, KV) is dropped; so is any packet to
/// another cluster's gateway address (its DNS responder).</item>
/// <item>postrouting (nat): a cluster's packets leaving by any interface other than its bridge are masqueraded
/// (when egress is on).</item>
/// </list>
/// </summary>
public static class IsolationRules
{
    /// <summary>The default table name.</summary>
    public const string DefaultTable = "tinyo";

    /// <summary>The ruleset for <paramref name="clusters"/>, protecting <paramref name="nodePorts"/> (TCP).</summary>
    public static string Render(IReadOnlyList<IsolatedCluster> clusters, IReadOnlyCollection<int> nodePorts, string table = DefaultTable)
    {
        CheckIdentifier(table, "table");
        foreach (var c in clusters) CheckIdentifier(c.Bridge, "bridge");
        foreach (var p in nodePorts)
            if (p is <= 0 or > 65535) throw new NodeException($"isolation: port {p} out of range");
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.Append(inv, $"table inet {table} {{}}\ndelete table inet {table}\ntable inet {table} {{\n");
        sb.Append("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n");
        foreach (var c in clusters)
        {
            var others = clusters.Where(o => o.Bridge != c.Bridge).Select(o => Quote(o.Bridge)).ToList();
            if (others.Count > 0) sb.Append(inv, $"\t\tiifname {Quote(c.Bridge)} oifname {{ {string.Join(", ", others)} }} drop comment \"{c.Name}: other clusters\"\n");
            // Back out of its own bridge is the cluster's own traffic to its subnets on other nodes (the overlay).
            if (!c.Egress) sb.Append(inv, $"\t\tiifname {Quote(c.Bridge)} oifname != {Quote(c.Bridge)} drop comment \"{c.Name}: egress off\"\n");
        }
        sb.Append("\t}\n");
        sb.Append("\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
        if (clusters.Count > 0)
        {
            var bridges = string.Join(", ", clusters.Select(c => Quote(c.Bridge)));
            if (nodePorts.Count > 0)
                sb.Append(inv, $"\t\tiifname {{ {bridges} }} tcp dport {{ {string.Join(", ", nodePorts.Order())} }} drop comment \"node API and KV\"\n");
            foreach (var c in clusters)
            {
                var gateways = clusters.Where(o => o.Bridge != c.Bridge).Select(o => o.Gateway.ToString()).ToList();
                if (gateways.Count > 0) sb.Append(inv, $"\t\tiifname {Quote(c.Bridge)} ip daddr {{ {string.Join(", ", gateways)} }} drop comment \"{c.Name}: other gateways\"\n");
            }
        }
        sb.Append("\t}\n");
        sb.Append("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
        foreach (var c in clusters.Where(c => c.Egress))
            sb.Append(inv, $"\t\tip saddr {c.Subnet} oifname != {Quote(c.Bridge)} masquerade comment \"{c.Name}: egress\"\n");
        sb.Append("\t}\n}\n");
        return sb.ToString();
    }

    /// <summary>The ruleset that removes our table (and only it).</summary>
    public static string RenderTeardown(string table = DefaultTable)
    {
        CheckIdentifier(table, "table");
        // Declaring it first makes the delete succeed when the table is already gone (idempotent teardown).
        return $"table inet {table} {{}}\ndelete table inet {table}\n";
    }

    private static string Quote(string s) => "\"" + s + "\"";

    /// <summary>Names that go into the ruleset: letters, digits, '_', '-', '.', at most 63 (no quoting tricks).</summary>
    private static void CheckIdentifier(string s, string what)
    {
        bool ok = s.Length is > 0 and <= 63 && char.IsAsciiLetter(s[0]);
        foreach (var ch in s) ok &= char.IsAsciiLetterOrDigit(ch) || ch is '_' or '-' or '.';
        if (!ok) throw new NodeException($"isolation: invalid {what} name '{s}'");
    }
}
