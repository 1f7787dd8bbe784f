using System.Security.Cryptography;
using Tinyo.Linux;
using Tinyo.Node.Store;

namespace Tinyo.Node.Security;

/// <summary>
/// Password hashing: PBKDF2-HMAC-SHA256 (OWASP 2023: ≥ 600,000 iterations; measured ≈ 0.2 s per hash on this
/// machine's NativeAOT build), 16-byte random salt, 32-byte hash, constant-time comparison.
/// </summary>
public static class Passwords
{
    /// <summary>Default iteration count.</summary>
    public const int DefaultIterations = 600_000;

    /// <summary>Shortest password accepted.</summary>
    public const int MinLength = 8;

    /// <summary>Hashes a new password.</summary>
    public static StoredUser Hash(string user, string password, int iterations)
    {
        var salt = KernelRandom.Bytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(System.Text.Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        return new StoredUser(user, Convert.ToBase64String(salt), Convert.ToBase64String(hash), iterations, DateTimeOffset.UtcNow,
            Convert.ToHexStringLower(KernelRandom.Bytes(16)));
    }

    /// <summary>True when the password matches (constant time in the hash comparison).</summary>
    public static bool Verify(StoredUser u, string password)
    {
        var salt = Convert.FromBase64String(u.Salt);
        var expected = Convert.FromBase64String(u.Hash);
        var got = Rfc2898DeriveBytes.Pbkdf2(System.Text.Encoding.UTF8.GetBytes(password), salt, u.Iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(got, expected);
    }

    /// <summary>A hash to verify against when the user does not exist, so timing does not reveal user names.</summary>
    public static readonly Lazy<StoredUser> Decoy = new(() => Hash("", "decoy-password", DefaultIterations));
}
