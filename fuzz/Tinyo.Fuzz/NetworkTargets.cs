using Tinyo.Node.Network;
using Tinyo.Rt.Network.Netlink;

namespace Tinyo.Fuzz;

/// <summary>
/// rtnetlink replies as the client reads them: every message of a datagram, errors/acks, link and address rows.
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
