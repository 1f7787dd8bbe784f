using Tinyo.Node.Network;
using Tinyo.Rt.Network.Netlink;

namespace Tinyo.Fuzz;

/// <summary>
/// rtnetlink replies as the client reads them: every message of a datagram, errors/acks, link, address and route rows.
/// The oracle: only <see cref="Tinyo.Rt.RtException"/> escapes, whatever the lengths claim.
/// </summary>
internal static class NetlinkTarget
{
    public static void Run(byte[] input)
    {
        var msgs = new NetlinkMessages(input);
        while (msgs.Next(out var m))
        {
            switch (m.Type)
            {
                case Rtnl.NLMSG_ERROR: NetlinkParse.Error(m.Payload, m.Flags); break;
                case Rtnl.RTM_NEWLINK: NetlinkParse.Link(m.Payload); break;
                case Rtnl.RTM_NEWADDR: NetlinkParse.Address(m.Payload); break;
                case Rtnl.RTM_NEWROUTE: RouteRows.Parse(m.Payload); break;
            }
        }
    }
}

/// <summary>
/// DNS messages as the cluster responder meets them: the input is read whole (question, records, names with
/// compression) as an upstream reply would be, then answered as a query from a replica. Oracles: only
/// <see cref="Tinyo.Node.NodeException"/> escapes; every answer the responder sends reads back with its question.
/// </summary>
internal static class DnsTarget
{
    private static readonly DnsServer Server = MakeServer();

    private static DnsServer MakeServer()
    {
        var names = new DnsNameTable();
        names.SetApp("db", [new DnsReplica(1, System.Net.IPAddress.Parse("10.88.0.2"), true), new DnsReplica(2, System.Net.IPAddress.Parse("10.88.0.3"), false)]);
        names.SetApp("web", [new DnsReplica(1, System.Net.IPAddress.Parse("10.88.0.4"), true)]);
        return new DnsServer(names); // no upstreams: outside names are REFUSED, nothing leaves the process
    }

    public static void Run(byte[] input)
    {
        try
        {
            DnsMessage.ReadAll(input);
        }
        catch (DnsFormatException) { }
        var answer = Server.AnswerAsync(input, 512, false, CancellationToken.None).GetAwaiter().GetResult();
        if (answer is null) return;
        if (answer.Length > 512) throw new InvalidOperationException($"UDP answer of {answer.Length} bytes");
        if (answer.Length == DnsMessage.HeaderSize) return; // FORMERR without question
        var (q, _) = DnsMessage.ReadAll(answer);
        if (!q.IsResponse) throw new InvalidOperationException("answer without QR");
    }
}

/// <summary>
/// The KV records the cluster overlay reads (every node may write them, so none is trusted): IPAM subnet records
/// as lines <c>KEY TAB VALUE</c>, and after a line <c>--</c>, status records as lines <c>NODE/APP TAB JSON</c>. The
/// oracle: nothing escapes (a bad record is skipped, not thrown), and every peer the view gives is a parsed IPv4
/// subnet of a known node that is not this node.
/// </summary>
internal static class OverlayTarget
{
    private static readonly Tinyo.Api.Cluster.NodeRecord[] Nodes =
    [
        new("a", "10.99.0.1", 7443, 2, 1 << 30, null, DateTimeOffset.UnixEpoch),
        new("b", "10.99.0.2", 7443, 2, 1 << 30, null, DateTimeOffset.UnixEpoch),
        new("c", "not-an-address", 7443, 2, 1 << 30, null, DateTimeOffset.UnixEpoch),
    ];

    private static readonly HashSet<string> Alive = ["a", "b", "c"];

    public static void Run(byte[] input)
    {
        var text = Input.Utf8(input);
        var subnets = new List<(string, string)>();
        var status = new List<(string, Tinyo.Api.AppStatus)>();
        bool statusPart = false;
        foreach (var line in text.Split('\n'))
        {
            if (line == "--")
            {
                statusPart = true;
                continue;
            }
            var tab = line.IndexOf('\t');
            var (k, v) = tab < 0 ? (line, "") : (line[..tab], line[(tab + 1)..]);
            if (!statusPart)
            {
                subnets.Add((k, v));
                continue;
            }
            try
            {
                if (System.Text.Json.JsonSerializer.Deserialize(v, Tinyo.Api.ApiJson.Default.AppStatus) is { } st) status.Add((k, st));
            }
            catch (System.Text.Json.JsonException)
            {
            }
        }
        var view = OverlayView.Compute("a", subnets, Alive, Nodes, status);
        foreach (var (_, v) in subnets)
            foreach (var p in view.PeersOf(v))
                if (p.Node is not "b" || p.Subnet.PrefixLength is < 8 or > 30)
                    throw new InvalidOperationException($"peer {p.Node} {p.Subnet} should not exist");
        foreach (var (k, _) in subnets)
        {
            var slash = k.IndexOf('/');
            if (slash < 0) continue;
            foreach (var p in view.PeersOf(k[(slash + 1)..]))
                if (p.Node is not "b" || !p.Address.Equals(System.Net.IPAddress.Parse("10.99.0.2")))
                    throw new InvalidOperationException($"peer {p.Node} {p.Address} should not exist");
        }
    }
}
