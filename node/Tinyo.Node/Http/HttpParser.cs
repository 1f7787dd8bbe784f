using System.Buffers;
using System.Text;

namespace Tinyo.Node.Http;

/// <summary>Limits on what a client may send.</summary>
public sealed record HttpLimits
{
    /// <summary>Request line plus headers.</summary>
    public int MaxHeaderBytes { get; init; } = 16 * 1024;

    /// <summary>Number of header lines.</summary>
    public int MaxHeaders { get; init; } = 64;

    /// <summary>Content-Length ceiling (statefiles are ≤ 1 MiB; JSON quoting can double it).</summary>
    public long MaxBodyBytes { get; init; } = 4L << 20;
}

/// <summary>
/// Parses the head of an HTTP/1.1 request (request line and headers) strictly: CRLF line ends, token methods,
/// origin-form targets, no obsolete line folding, no Transfer-Encoding (bodies need Content-Length).
/// Anything else is an <see cref="HttpParseException"/> with the status to answer.
/// </summary>
public static class HttpParser
{
    private static ReadOnlySpan<byte> HeadEnd => "\r\n\r\n"u8;

    /// <summary>
    /// Looks for a complete head in <paramref name="buffer"/>. Returns false when more bytes are needed; throws when
    /// the head is malformed or larger than the limit. On success <paramref name="consumed"/> is the head's length.
    /// </summary>
    public static bool TryParseHead(ReadOnlySequence<byte> buffer, HttpLimits limits, out HttpRequest? request, out long consumed)
    {
        request = null;
        consumed = 0;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> head, HeadEnd, advancePastDelimiter: true))
        {
            if (buffer.Length > limits.MaxHeaderBytes) throw new HttpParseException(431, "request header too large");
            return false;
        }
        if (head.Length + 4 > limits.MaxHeaderBytes) throw new HttpParseException(431, "request header too large");
        consumed = reader.Consumed;
        request = ParseHead(head.ToArray(), limits);
        return true;
    }

    /// <summary>Parses a head given without its final CRLF CRLF.</summary>
    public static HttpRequest ParseHead(ReadOnlySpan<byte> head, HttpLimits limits)
    {
        foreach (var b in head)
            if (b == 0) throw new HttpParseException(400, "NUL byte in request header");
        var lineEnd = head.IndexOf("\r\n"u8);
        var requestLine = lineEnd < 0 ? head : head[..lineEnd];
        var (method, target, version) = RequestLine(requestLine);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var rest = lineEnd < 0 ? [] : head[(lineEnd + 2)..];
        var count = 0;
        while (rest.Length > 0)
        {
            var e = rest.IndexOf("\r\n"u8);
            var line = e < 0 ? rest : rest[..e];
            rest = e < 0 ? [] : rest[(e + 2)..];
            if (++count > limits.MaxHeaders) throw new HttpParseException(431, "too many headers");
            if (line.IndexOf((byte)'\n') >= 0 || line.IndexOf((byte)'\r') >= 0) throw new HttpParseException(400, "bare CR or LF in a header");
            if (line.Length > 0 && line[0] is (byte)' ' or (byte)'\t') throw new HttpParseException(400, "obsolete header line folding");
            var colon = line.IndexOf((byte)':');
            if (colon <= 0) throw new HttpParseException(400, "malformed header line");
            var name = line[..colon];
            foreach (var b in name)
                if (!IsTokenChar(b)) throw new HttpParseException(400, "invalid header name");
            var value = Encoding.Latin1.GetString(line[(colon + 1)..]).Trim(' ', '\t');
            foreach (var c in value)
                if (c < 0x20 && c != '\t' || c == 0x7f) throw new HttpParseException(400, "control character in a header value");
            var key = Encoding.ASCII.GetString(name);
            if (key.Equals("content-length", StringComparison.OrdinalIgnoreCase) && headers.TryGetValue(key, out var prev) && prev != value)
                throw new HttpParseException(400, "conflicting Content-Length headers");
            headers[key] = value;
        }
        if (version == "HTTP/1.1" && !headers.ContainsKey("host")) headers["host"] = ""; // tolerated: unix-socket clients often omit it
        if (headers.ContainsKey("transfer-encoding")) throw new HttpParseException(501, "Transfer-Encoding is not supported: send Content-Length");
        var q = target.IndexOf('?');
        var path = q < 0 ? target : target[..q];
        var decoded = PercentDecode(path);
        if (decoded.Contains('\0')) throw new HttpParseException(400, "NUL in the path");
        return new HttpRequest
        {
            Method = method,
            Path = decoded,
            Query = q < 0 ? "" : target[(q + 1)..],
            Version = version,
            Headers = headers,
        };
    }

    /// <summary>The declared body length: 0 when absent; throws when invalid or above the limit.</summary>
    public static long ContentLength(HttpRequest r, HttpLimits limits)
    {
        if (!r.Headers.TryGetValue("content-length", out var s)) return 0;
        if (s.Length is 0 or > 18) throw new HttpParseException(400, "invalid Content-Length");
        foreach (var c in s)
            if (c is < '0' or > '9') throw new HttpParseException(400, "invalid Content-Length");
        var n = long.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
        if (n > limits.MaxBodyBytes) throw new HttpParseException(413, $"request body larger than {limits.MaxBodyBytes} bytes");
        return n;
    }

    /// <summary>Strict percent-decoding: every '%' takes two hex digits and the result must be UTF-8.</summary>
    private static string PercentDecode(string path)
    {
        if (!path.Contains('%')) return path;
        var bytes = new List<byte>(path.Length);
        for (var i = 0; i < path.Length; i++)
        {
            if (path[i] != '%') { bytes.Add((byte)path[i]); continue; }
            if (i + 2 >= path.Length || !Uri.IsHexDigit(path[i + 1]) || !Uri.IsHexDigit(path[i + 2]))
                throw new HttpParseException(400, "malformed percent-encoding in the path");
            bytes.Add((byte)Convert.ToInt32(path.Substring(i + 1, 2), 16));
            i += 2;
        }
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException)
        {
            throw new HttpParseException(400, "the path is not UTF-8");
        }
    }

    private static (string, string, string) RequestLine(ReadOnlySpan<byte> line)
    {
        var sp1 = line.IndexOf((byte)' ');
        if (sp1 <= 0) throw new HttpParseException(400, "malformed request line");
        var method = line[..sp1];
        foreach (var b in method)
            if (!IsTokenChar(b)) throw new HttpParseException(400, "invalid method");
        var rest = line[(sp1 + 1)..];
        var sp2 = rest.IndexOf((byte)' ');
        if (sp2 <= 0) throw new HttpParseException(400, "malformed request line");
        var target = rest[..sp2];
        var version = rest[(sp2 + 1)..];
        if (target[0] != (byte)'/') throw new HttpParseException(400, "request target must be an absolute path");
        foreach (var b in target)
            if (b <= 0x20 || b >= 0x7f) throw new HttpParseException(400, "invalid character in the request target");
        string v;
        if (version.SequenceEqual("HTTP/1.1"u8)) v = "HTTP/1.1";
        else if (version.SequenceEqual("HTTP/1.0"u8)) v = "HTTP/1.0";
        else if (version.StartsWith("HTTP/"u8)) throw new HttpParseException(505, "HTTP version not supported");
        else throw new HttpParseException(400, "malformed request line");
        return (Encoding.ASCII.GetString(method), Encoding.ASCII.GetString(target), v);
    }

    private static bool IsTokenChar(byte b)
        => b is >= (byte)'a' and <= (byte)'z' or >= (byte)'A' and <= (byte)'Z' or >= (byte)'0' and <= (byte)'9'
            or (byte)'!' or (byte)'#' or (byte)'$' or (byte)'%' or (byte)'&' or (byte)'\'' or (byte)'*' or (byte)'+'
            or (byte)'-' or (byte)'.' or (byte)'^' or (byte)'_' or (byte)'`' or (byte)'|' or (byte)'~';
}
