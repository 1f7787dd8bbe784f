namespace Tinyo.Rt.Images;

/// <summary>Registry mirrors (Docker's <c>registry-mirrors</c>): where docker.io images are looked for first.</summary>
public static class RegistryMirrors
{
    /// <summary>Parses a mirror: <c>http://HOST[:PORT]</c>, <c>https://HOST[:PORT]</c> or <c>HOST[:PORT]</c> (https).</summary>
    public static bool TryParse(string mirror, out string host, out bool insecure)
    {
        host = "";
        insecure = false;
        var m = mirror.Trim();
        if (m.Length == 0) return false;
        if (!m.Contains("://", StringComparison.Ordinal)) m = "https://" + m;
        if (!Uri.TryCreate(m, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https") || u.Host.Length == 0) return false;
        if (u.AbsolutePath is not ("/" or "")) return false; // a path prefix is not supported
        host = u.Authority;
        insecure = u.Scheme == "http";
        return true;
    }

    /// <summary>Splits a comma- or whitespace-separated list.</summary>
    public static IReadOnlyList<string> Split(string? text)
        => string.IsNullOrWhiteSpace(text) ? [] : text.Split([',', ' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Splits and checks a list; throws <see cref="RtException"/> naming a bad entry.</summary>
    public static IReadOnlyList<string> Parse(string? text)
    {
        var l = Split(text);
        foreach (var m in l)
            if (!TryParse(m, out _, out _)) throw new RtException($"invalid registry mirror '{m}': expected http://HOST:PORT, https://HOST or HOST:PORT");
        return l;
    }
}
