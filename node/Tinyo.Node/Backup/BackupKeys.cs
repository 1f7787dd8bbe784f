using System.Security.Cryptography;

namespace Tinyo.Node.Backup;

/// <summary>
/// The keys of one backup file, derived from the passphrase with PBKDF2-HMAC-SHA256 over the file's random salt:
/// 64 bytes, the first 32 the AES-256-GCM key, the last 32 the check key (<see cref="BackupHeader"/>'s check value).
/// PBKDF2 rather than Argon2: .NET has no Argon2 and a new native dependency is not worth it here; the iteration
/// count is the same as for user passwords (OWASP's 2023 figure for SHA-256).
/// </summary>
public sealed class BackupKeys : IDisposable
{
    /// <summary>Iterations of a new file (≈ 0.2 s here).</summary>
    public const int DefaultIterations = 600_000;

    /// <summary>The shortest passphrase a backup is made with.</summary>
    public const int MinPassphraseLength = 8;

    private static ReadOnlySpan<byte> CheckLabel => "tinyo backup passphrase check"u8;

    private BackupKeys(byte[] aead, byte[] check)
    {
        Aead = aead;
        Check = check;
    }

    /// <summary>The AES-256-GCM key.</summary>
    public byte[] Aead { get; }

    /// <summary>The 16-byte check value stored in the header.</summary>
    public byte[] Check { get; }

    /// <summary>Derives the keys for a passphrase, salt and iteration count.</summary>
    public static BackupKeys Derive(ReadOnlySpan<char> passphrase, ReadOnlySpan<byte> salt, int iterations)
    {
        Span<byte> both = stackalloc byte[64];
        try
        {
            Rfc2898DeriveBytes.Pbkdf2(passphrase, salt, both, iterations, HashAlgorithmName.SHA256);
            var check = HMACSHA256.HashData(both[32..], CheckLabel)[..16];
            return new BackupKeys(both[..32].ToArray(), check);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(both);
        }
    }

    /// <summary>Zeroes the key.</summary>
    public void Dispose() => CryptographicOperations.ZeroMemory(Aead);
}
