using System.Globalization;
using System.Net;
using System.Text;

namespace Tinyo.Node.Network;

/// <summary>
/// The nftables table that guards the overlay's UDP port (a table of its own beside the isolation table, replaced
/// whole by <c>nft -f -</c>, deleted with the last VXLAN device). A VXLAN device believes any packet with its id that
/// reaches its port, so:
/// <list type="bullet">
/// <item>input: the port is accepted only from the other ready nodes' registered addresses; from a cluster bridge
/// never (a container with CAP_NET_RAW could forge a node's source address);</item>
/// <item>forward: nothing a cluster bridge forwards may go to the port (else a container could send a frame with
/// any cluster's id to another node, which would see it come from this node's address after masquerade).</item>
/// </list>
/// Isolation between clusters needs nothing more here: each cluster has its own id, so another cluster's frames
/// land on another bridge, and routed traffic between two bridges is dropped by <see cref="IsolationRules"/>.
/// </summary>
public static class OverlayRules
{
    /// <summary>The table for <paramref name="bridges"/> with the peers <paramref name="nodes"/> on UDP <paramref name="port"/>.</summary>
    public static string Render(string table, IReadOnlyCollection<string> bridges, IReadOnlyCollection<IPAddress> nodes, int port)
    {
        Check(table);
        foreach (var b in bridges) Check(b);
        if (port is <= 0 or > 65535) throw new NodeException($"overlay: port {port} out of range");
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(inv, $"table inet {table} {{}}\ndelete table inet {table}\ntable inet {table} {{\n");
        sb.Append("\tset nodes {\n\t\ttype ipv4_addr\n");
        var v4 = nodes.Where(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork).Select(a => a.ToString()).Distinct().ToList();
        if (v4.Count > 0) sb.Append(inv, $"\t\telements = {{ {string.Join(", ", v4)} }}\n");
        sb.Append("\t}\n");
        var list = string.Join(", ", bridges.Select(b => "\"" + b + "\""));
        sb.Append("\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
        if (bridges.Count > 0) sb.Append(inv, $"\t\tiifname {{ {list} }} udp dport {port} drop comment \"overlay: not from containers\"\n");
        sb.Append(inv, $"\t\tudp dport {port} ip saddr != @nodes drop comment \"overlay: registered nodes only\"\n");
        sb.Append("\t}\n");
        sb.Append("\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n");
        if (bridges.Count > 0) sb.Append(inv, $"\t\tiifname {{ {list} }} udp dport {port} drop comment \"overlay: no frames forged by containers\"\n");
        sb.Append("\t}\n}\n");
        return sb.ToString();
    }

    private static void Check(string s)
    {
        bool ok = s.Length is > 0 and <= 63 && char.IsAsciiLetter(s[0]);
        foreach (var ch in s) ok &= char.IsAsciiLetterOrDigit(ch) || ch is '_' or '-';
        if (!ok) throw new NodeException($"overlay: invalid name '{s}'");
    }
}
