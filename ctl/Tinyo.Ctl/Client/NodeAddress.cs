using System.Net;

namespace Tinyo.Ctl.Client;

/// <summary>
/// Where a node's API is: a unix socket path or a TCP endpoint, over TLS unless <see cref="Plain"/> (written
/// <c>tcp+plain://</c>: a node started with --plain-tcp; never chosen silently).
/// </summary>
public sealed record NodeAddress(string? SocketPath, DnsEndPoint? Tcp, bool Plain = false)
{
    /// <summary>The default unix socket.</summary>
    public const string DefaultSocket = "/run/tinyo/node.sock";

    /// <summary>Parses <c>unix:/path</c>, <c>/path</c>, <c>tcp://host:port</c> (TLS), <c>host:port</c> or <c>tcp+plain://host:port</c>.</summary>
    public static NodeAddress Parse(string s)
    {
        if (s.StartsWith("unix:", StringComparison.Ordinal)) s = s[5..];
        if (s.StartsWith('/')) return new NodeAddress(s, null);
        var plain = s.StartsWith("tcp+plain://", StringComparison.Ordinal);
        if (plain) s = s[12..];
        else if (s.StartsWith("tcp://", StringComparison.Ordinal)) s = s[6..];
        var colon = s.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(s[(colon + 1)..], out var port) || port is < 1 or > 65535)
            throw new CtlException($"invalid node address '{s}': expected unix:/path or tcp://host:port");
        return new NodeAddress(null, new DnsEndPoint(s[..colon].Trim('[', ']'), port), plain);
    }

    /// <inheritdoc/>
    public override string ToString() => SocketPath is not null ? "unix:" + SocketPath : $"{(Plain ? "tcp+plain" : "tcp")}://{Tcp!.Host}:{Tcp.Port}";
}
