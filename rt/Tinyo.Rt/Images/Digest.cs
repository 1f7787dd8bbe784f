using System.Security.Cryptography;

namespace Tinyo.Rt.Images;

/// <summary>
/// A content digest, <c>sha256:</c> followed by 64 lowercase hex digits. Only sha256 is accepted: it is what every
/// registry serves, and a closed set keeps digests safe to use as file names.
/// </summary>
public readonly record struct Digest
{
    private Digest(string hex) => Hex = hex;

    /// <summary>The 64 lowercase hex digits, safe to use as a file name.</summary>
    public string Hex { get; }

    /// <summary>The algorithm; always <c>sha256</c>.</summary>
    public string Algorithm => "sha256";

    /// <summary>Parses <c>sha256:HEX</c>; throws <see cref="RtException"/> naming the problem otherwise.</summary>
    public static Digest Parse(string? text)
    {
        if (TryParse(text, out var d)) return d;
        throw new RtException($"invalid digest '{Truncate(text)}': expected sha256: followed by 64 lowercase hex digits");
    }

    /// <summary>Parses <c>sha256:HEX</c> without throwing.</summary>
    public static bool TryParse(string? text, out Digest digest)
    {
        digest = default;
        if (text is null || text.Length != 71 || !text.StartsWith("sha256:", StringComparison.Ordinal)) return false;
        var hex = text.AsSpan(7);
        foreach (var c in hex)
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f')) return false;
        digest = new Digest(text.Substring(7));
        return true;
    }

    /// <summary>Builds a digest from a raw 32-byte SHA-256 hash.</summary>
    public static Digest FromHash(ReadOnlySpan<byte> sha256)
    {
        if (sha256.Length != 32) throw new ArgumentException("a sha256 hash is 32 bytes", nameof(sha256));
        return new Digest(Convert.ToHexStringLower(sha256));
    }

    /// <summary>Computes the digest of <paramref name="data"/>.</summary>
    public static Digest Compute(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(data, hash);
        return FromHash(hash);
    }

    /// <summary><c>sha256:HEX</c>.</summary>
    public override string ToString() => Hex is null ? "" : "sha256:" + Hex;

    /// <summary>The first 12 hex digits, as image listings show them.</summary>
    public string Short => Hex is null ? "" : Hex[..12];

    private static string Truncate(string? s) => s is null ? "" : s.Length > 80 ? s[..80] + "…" : s;
}
