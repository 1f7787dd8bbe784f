using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tinyo.Api;

/// <summary>
/// A node's TLS identity as tio pins it: <c>sha256:</c> and the hex SHA-256 of the certificate's public key
/// (SubjectPublicKeyInfo, as HPKP and curl's --pinnedpubkey), so a renewed certificate with the same key still matches.
/// </summary>
public static class CertificatePin
{
    /// <summary>The pin of a certificate.</summary>
    public static string Of(X509Certificate cert)
    {
        if (cert is X509Certificate2 c2) return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(c2.PublicKey.ExportSubjectPublicKeyInfo()));
        using var c = X509CertificateLoader.LoadCertificate(cert.GetRawCertData());
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(c.PublicKey.ExportSubjectPublicKeyInfo()));
    }

    /// <summary>A pin as the user typed it (sha256:HEX, SHA256:HEX, or HEX with colons), normalised; null when invalid.</summary>
    public static string? Normalize(string? s)
    {
        if (s is null) return null;
        var hex = s.Trim();
        if (hex.StartsWith("sha256:", StringComparison.OrdinalIgnoreCase)) hex = hex[7..];
        hex = hex.Replace(":", "", StringComparison.Ordinal).ToLowerInvariant();
        if (hex.Length != 64) return null;
        foreach (var c in hex)
            if (!char.IsAsciiHexDigit(c)) return null;
        return "sha256:" + hex;
    }

    /// <summary>True when a presented pin equals the expected one (constant time).</summary>
    public static bool Matches(string presented, string expected)
        => CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(presented), System.Text.Encoding.ASCII.GetBytes(expected));
}
