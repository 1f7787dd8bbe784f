using System.Buffers.Binary;

namespace Tinyo.Node.Backup;

/// <summary>
/// The clear-text header at the start of a backup file (52 bytes, big-endian numbers). Every chunk's AES-GCM tag
/// covers it as associated data, so a changed header byte fails the first chunk even when it does not change the key.
/// <code>
///  0  "TINYOBAK"            magic
///  8  u16 version           1
/// 10  u8  kdf               1 = PBKDF2-HMAC-SHA256
/// 11  u8  aead              1 = AES-256-GCM
/// 12  u32 iterations        PBKDF2 iterations
/// 16  16 bytes salt         random per file: a new key for every file
/// 32  u32 chunk size        plain bytes per chunk (the last may hold fewer)
/// 36  16 bytes check        HMAC-SHA256(check key, "tinyo backup passphrase check")[..16]: tells a wrong
///                           passphrase apart from a damaged chunk, at the KDF's full cost per guess
/// </code>
/// </summary>
public sealed record BackupHeader(ushort Version, int Iterations, byte[] Salt, int ChunkSize, byte[] Check)
{
    /// <summary>The header's length in bytes.</summary>
    public const int Size = 52;

    /// <summary>The format version this code writes and reads.</summary>
    public const ushort CurrentVersion = 1;

    /// <summary>The first eight bytes of every backup file.</summary>
    public static ReadOnlySpan<byte> Magic => "TINYOBAK"u8;

    /// <summary>The KDF id of PBKDF2-HMAC-SHA256.</summary>
    public const byte KdfPbkdf2Sha256 = 1;

    /// <summary>The AEAD id of AES-256-GCM.</summary>
    public const byte AeadAes256Gcm = 1;

    /// <summary>Plain bytes per chunk written (64 KiB): a large file streams through a buffer of this size.</summary>
    public const int DefaultChunkSize = 64 * 1024;

    /// <summary>The smallest and largest chunk sizes a reader accepts (a header cannot make it allocate more).</summary>
    public const int MinChunkSize = 1024, MaxChunkSize = 4 * 1024 * 1024;

    /// <summary>The header as written.</summary>
    public byte[] ToBytes()
    {
        var b = new byte[Size];
        Magic.CopyTo(b);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(8), Version);
        b[10] = KdfPbkdf2Sha256;
        b[11] = AeadAes256Gcm;
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(12), Iterations);
        Salt.CopyTo(b, 16);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(32), ChunkSize);
        Check.CopyTo(b, 36);
        return b;
    }

    /// <summary>
    /// Parses and bounds a header: not a backup, another version, an unknown algorithm, or parameters outside the
    /// limits are refused with a message naming which.
    /// </summary>
    public static BackupHeader Parse(ReadOnlySpan<byte> b, BackupLimits limits)
    {
        if (b.Length < Magic.Length && Magic.StartsWith(b))
            throw new BackupException($"truncated: the file ends inside its header, after {b.Length} of {Size} bytes");
        if (b.Length < Magic.Length || !b[..Magic.Length].SequenceEqual(Magic))
            throw new BackupException("not a Tinyo backup file (its first bytes are not TINYOBAK)");
        if (b.Length < 10) throw new BackupException($"truncated: the file ends inside its header, after {b.Length} of {Size} bytes");
        var version = BinaryPrimitives.ReadUInt16BigEndian(b[8..]);
        if (version != CurrentVersion)
            throw new BackupException($"unsupported backup format version {version}: this Tinyo reads version {CurrentVersion}");
        if (b.Length < Size) throw new BackupException($"truncated: the file ends inside its header, after {b.Length} of {Size} bytes");
        if (b[10] != KdfPbkdf2Sha256) throw new BackupException($"unknown key derivation {b[10]} in the header (expected 1, PBKDF2-HMAC-SHA256)");
        if (b[11] != AeadAes256Gcm) throw new BackupException($"unknown cipher {b[11]} in the header (expected 1, AES-256-GCM)");
        var iterations = BinaryPrimitives.ReadInt32BigEndian(b[12..]);
        if (iterations < limits.MinIterations || iterations > limits.MaxIterations)
            throw new BackupException($"the header asks for {iterations} PBKDF2 iterations, outside {limits.MinIterations}..{limits.MaxIterations}: the header was changed");
        var chunk = BinaryPrimitives.ReadInt32BigEndian(b[32..]);
        if (chunk is < MinChunkSize or > MaxChunkSize)
            throw new BackupException($"the header's chunk size {chunk} is outside {MinChunkSize}..{MaxChunkSize}: the header was changed");
        return new BackupHeader(version, iterations, b[16..32].ToArray(), chunk, b[36..52].ToArray());
    }
}

/// <summary>What a reader accepts: a header cannot make it spend unbounded time in the KDF or memory on chunks.</summary>
public sealed record BackupLimits
{
    /// <summary>The fewest PBKDF2 iterations accepted (a file made by Tinyo has <see cref="BackupKeys.DefaultIterations"/>).</summary>
    public int MinIterations { get; init; } = 100_000;

    /// <summary>The most PBKDF2 iterations accepted (about 4 s here).</summary>
    public int MaxIterations { get; init; } = 10_000_000;

    /// <summary>The largest single record's content (the KV snapshot, a volume); larger is malformed.</summary>
    public long MaxRecordBytes { get; init; } = 64L << 30;

    /// <summary>The default limits.</summary>
    public static BackupLimits Default { get; } = new();
}
