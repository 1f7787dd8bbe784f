using System.Net;

namespace Tinyo.Node.Network;

/// <summary>The host's resolvers, where names outside the cluster go.</summary>
public static class DnsUpstreams
{
    /// <summary>
    /// The <c>nameserver</c> lines of a resolv.conf (IPv4 and IPv6, port 53), in order, minus any address in
    /// <paramref name="exclude"/> (the responders' own addresses: forwarding to ourselves would loop). A missing file
    /// gives an empty list (the responder then answers REFUSED for outside names).
    /// </summary>
    public static List<IPEndPoint> FromResolvConf(string path = "/etc/resolv.conf", IEnumerable<IPAddress>? exclude = null)
    {
        var list = new List<IPEndPoint>();
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return list;
        }
        var skip = exclude?.ToHashSet() ?? [];
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (!line.StartsWith("nameserver", StringComparison.Ordinal)) continue;
            var parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2) continue;
            var text = parts[1];
            int pct = text.IndexOf('%'); // fe80::1%eth0: the zone is not ours to resolve here
            if (pct >= 0) continue;
            if (IPAddress.TryParse(text, out var ip) && !skip.Contains(ip)) list.Add(new IPEndPoint(ip, 53));
        }
        return list;
    }
}
