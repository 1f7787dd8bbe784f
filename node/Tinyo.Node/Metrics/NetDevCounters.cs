using System.Globalization;

namespace Tinyo.Node.Metrics;

/// <summary>
/// Byte counters of the network devices in the node's own namespace, from <c>/proc/self/net/dev</c> (the main
/// thread's namespace, whatever thread reads it). A replica's traffic is counted on the host end of its veth, where
/// the directions swap: what the host end receives, the replica sent.
/// </summary>
public static class NetDevCounters
{
    /// <summary>Device name → (received, transmitted) bytes; empty when the file cannot be read.</summary>
    public static Dictionary<string, (long Rx, long Tx)> Read(string path = "/proc/self/net/dev")
    {
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        }
    }

    /// <summary>Parses the text of <c>/proc/net/dev</c>: two header lines, then <c>NAME: rx_bytes … (8 receive
    /// fields) tx_bytes …</c>; lines that do not fit are skipped.</summary>
    public static Dictionary<string, (long Rx, long Tx)> Parse(string text)
    {
        var d = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            var colon = line.IndexOf(':');
            if (colon <= 0) continue;
            var name = line[..colon].Trim();
            if (name.IsEmpty || name.Contains('|')) continue;
            var rest = line[(colon + 1)..];
            long rx = -1, tx = -1;
            int field = 0;
            foreach (var range in rest.Split(' '))
            {
                var token = rest[range];
                if (token.IsEmpty) continue;
                if (field is 0 or 8)
                {
                    if (!long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var v)) break;
                    if (field == 0) rx = v;
                    else tx = v;
                }
                if (++field > 8) break;
            }
            if (rx >= 0 && tx >= 0) d[name.ToString()] = (rx, tx);
        }
        return d;
    }
}
