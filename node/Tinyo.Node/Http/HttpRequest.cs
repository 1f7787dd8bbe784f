namespace Tinyo.Node.Http;

/// <summary>One parsed HTTP/1.1 request.</summary>
public sealed class HttpRequest
{
    /// <summary>GET, POST, PUT, DELETE…</summary>
    public required string Method { get; init; }

    /// <summary>The path, percent-decoded, without the query.</summary>
    public required string Path { get; init; }

    /// <summary>The raw query string without '?', or empty.</summary>
    public string Query { get; init; } = "";

    /// <summary>HTTP/1.0 or HTTP/1.1.</summary>
    public required string Version { get; init; }

    /// <summary>Headers, names case-insensitive; the last value wins.</summary>
    public required Dictionary<string, string> Headers { get; init; }

    /// <summary>The body (Content-Length bytes).</summary>
    public byte[] Body { get; set; } = [];

    /// <summary>Who is calling: "unix:UID" (the unix socket's peer, by SO_PEERCRED) or the TCP peer's address.</summary>
    public string Peer { get; set; } = "";

    /// <summary>The calling process's uid on the unix socket (SO_PEERCRED), or -1 over TCP or when unknown.</summary>
    public long PeerUid { get; set; } = -1;

    /// <summary>True when the request came over the unix socket (root-only by its file mode).</summary>
    public bool Local { get; set; }

    /// <summary>
    /// The cluster node calling (the CN of a client certificate the cluster CA signed, checked in the TLS
    /// handshake: mutual TLS), or null for every other client.
    /// </summary>
    public string? ClusterPeer { get; set; }

    /// <summary>Whether the connection stays open after the answer.</summary>
    public bool KeepAlive
    {
        get
        {
            var conn = Headers.GetValueOrDefault("connection") ?? "";
            return Version == "HTTP/1.1"
                ? !conn.Contains("close", StringComparison.OrdinalIgnoreCase)
                : conn.Contains("keep-alive", StringComparison.OrdinalIgnoreCase);
        }
    }
}

/// <summary>A request the parser refuses: answered with this status and a JSON error, then the connection closes.</summary>
public sealed class HttpParseException(int status, string message) : Exception(message)
{
    /// <summary>The HTTP status to answer with (400, 413, 431, 501, 505).</summary>
    public int Status { get; } = status;
}
