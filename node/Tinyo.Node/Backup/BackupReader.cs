using System.Security.Cryptography;

namespace Tinyo.Node.Backup;

/// <summary>
/// Reads a whole backup file: header (magic, version, algorithms, bounds), the passphrase check, every chunk
/// authenticated, every record parsed. The first problem throws <see cref="BackupException"/> naming it; records
/// already handed to the sink came only from authenticated chunks, but a caller that must not act on a bad file reads
/// it once with <see cref="VerifyingSink"/> first (<c>tinyonode restore</c> does).
/// </summary>
public static class BackupReader
{
    /// <summary>Reads <paramref name="input"/> to its end into <paramref name="sink"/>; returns the manifest.</summary>
    public static BackupManifest Read(Stream input, string passphrase, IBackupSink sink, BackupLimits? limits = null)
    {
        limits ??= BackupLimits.Default;
        var headerBytes = new byte[BackupHeader.Size];
        var got = 0;
        while (got < headerBytes.Length)
        {
            var n = input.Read(headerBytes, got, headerBytes.Length - got);
            if (n == 0) break;
            got += n;
        }
        if (got == 0) throw new BackupException("the file is empty");
        var header = BackupHeader.Parse(headerBytes.AsSpan(0, got), limits);
        using var keys = BackupKeys.Derive(passphrase, header.Salt, header.Iterations);
        if (!CryptographicOperations.FixedTimeEquals(keys.Check, header.Check))
            throw new BackupException("wrong passphrase (or the header's salt or iteration count was changed)");
        using var chunks = new ChunkReader(input, headerBytes, header, keys);
        return new RecordReader(chunks, sink, limits).ReadAll();
    }
}
