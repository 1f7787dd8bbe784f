using System.Net;

namespace Tinyo.Ctl.Client;

/// <summary>Where a node's API is: a unix socket path or a TCP endpoint.</summary>
public sealed record NodeAddress(string? SocketPath, DnsEndPoint? Tcp)
{
    /// <summary>The default unix socket.</summary>
    public const string DefaultSocket = "/run/tinyo/node.sock";

    /// <summary>Parses <c>unix:/path</c>, <c>/path</c>, <c>tcp://host:port</c> or <c>host:port</c>.</summary>
    public static NodeAddress Parse(string s)
    {
        if (s.StartsWith("unix:", StringComparison.Ordinal)) s = s[5..];
        if (s.StartsWith('/')) return new NodeAddress(s, null);
        if (s.StartsWith("tcp://", StringComparison.Ordinal)) s = s[6..];
        var colon = s.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(s[(colon + 1)..], out var port) || port is < 1 or > 65535)
            throw new CtlException($"invalid node address '{s}': expected unix:/path or tcp://host:port");
        return new NodeAddress(null, new DnsEndPoint(s[..colon].Trim('[', ']'), port));
    }

    /// <inheritdoc/>
    public override string ToString() => SocketPath is not null ? "unix:" + SocketPath : $"tcp://{Tcp!.Host}:{Tcp.Port}";
}
