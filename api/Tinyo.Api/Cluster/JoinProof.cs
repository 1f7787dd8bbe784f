using System.Security.Cryptography;
using System.Text;

namespace Tinyo.Api.Cluster;

/// <summary>
/// How a join authenticates both ways without the password crossing the wire. The node stores, per user, the
/// PBKDF2-SHA256 hash of the password; the joiner derives the same key from the password and the salt the challenge
/// gave. The joiner then proves knowledge of the key first (<see cref="Client"/>: an HMAC over both nonces and the
/// public-key pin of the TLS certificate it saw), and only an accepted proof gets the node's answer, which carries
/// the node's own proof (<see cref="Server"/>) over the answer's contents. So: the password is never sent; a
/// man in the middle with its own TLS key fails both proofs (the pin is inside them) and gets nothing it can replay;
/// the joiner trusts the cluster CA it receives only because the answer is bound to the password (not trust on first
/// use). Online guessing is throttled by the node like logins. Known limit, as with any scheme without a PAKE: an
/// active man in the middle who captures a client proof can try passwords offline, at PBKDF2's cost per guess.
/// </summary>
public static class JoinProof
{
    /// <summary>The key both sides hold: PBKDF2-HMAC-SHA256(password, salt, iterations), 32 bytes.</summary>
    public static byte[] Key(string password, byte[] salt, int iterations)
        => Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);

    /// <summary>The joiner's proof (hex).</summary>
    public static string Client(byte[] key, string user, string clientNonce, string serverNonce, string tlsPin, string net, string node)
        => Mac(key, "tinyo-join-client/1", user, clientNonce, serverNonce, tlsPin, net, node);

    /// <summary>The node's proof over its answer (hex).</summary>
    public static string Server(byte[] key, string clientNonce, string serverNonce, string tlsPin, JoinResponse r)
        => Mac(key, "tinyo-join-server/1", clientNonce, serverNonce, tlsPin, r.Net, r.Role, r.CaCert, r.NodeCert, r.KvToken,
            string.Join(',', r.KvEndpoints), r.Time.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Constant-time comparison of two hex proofs.</summary>
    public static bool Equal(string a, string b)
        => a.Length == b.Length && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(a), Encoding.ASCII.GetBytes(b));

    /// <summary>32 random bytes, hex.</summary>
    public static string Nonce() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    private static string Mac(byte[] key, params string[] parts)
    {
        // Each part length-prefixed: no two different part lists hash the same bytes.
        var sb = new StringBuilder();
        foreach (var p in parts) sb.Append(p.Length).Append(':').Append(p).Append('\n');
        return Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(sb.ToString())));
    }
}
