using System.Net;
using System.Net.Sockets;

namespace Tinyo.Kv.Protocol;

/// <summary>Parses "host:port" addresses given on command lines and in member metadata.</summary>
public static class Endpoints
{
    /// <summary>Parses an IP endpoint; "localhost" means 127.0.0.1. Throws <see cref="KvException"/> naming the bad input.</summary>
    public static IPEndPoint Parse(string text)
    {
        var s = text.Trim();
        if (s.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase)) s = "127.0.0.1" + s[9..];
        if (IPEndPoint.TryParse(s, out var ep) && ep.Port != 0 && s.Contains(':')) return ep;
        throw new KvException($"bad address '{text}': expected ip:port");
    }

    /// <summary>Parses a comma-separated list.</summary>
    public static IPEndPoint[] ParseList(string text)
        => text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Parse).ToArray();

    /// <summary>Formats an endpoint as ip:port (IPv6 in brackets).</summary>
    public static string Format(EndPoint ep) => ep switch
    {
        IPEndPoint { AddressFamily: AddressFamily.InterNetworkV6 } ip => $"[{ip.Address}]:{ip.Port}",
        IPEndPoint ip => $"{ip.Address}:{ip.Port}",
        _ => ep.ToString() ?? "",
    };
}
