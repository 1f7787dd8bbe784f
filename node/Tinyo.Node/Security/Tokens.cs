using System.Security.Cryptography;
using Tinyo.Linux;

namespace Tinyo.Node.Security;

/// <summary>Bearer tokens: 256 random bits, given to the client once; the KV keeps only their SHA-256.</summary>
public static class Tokens
{
    /// <summary>Prefix that makes a token recognisable (e.g. to secret scanners).</summary>
    public const string Prefix = "tio_";

    /// <summary>A new token.</summary>
    public static string New() => Prefix + Base64Url(KernelRandom.Bytes(32));

    /// <summary>The key under which a token's record is stored.</summary>
    public static string Id(string token) => Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token)));

    private static string Base64Url(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
