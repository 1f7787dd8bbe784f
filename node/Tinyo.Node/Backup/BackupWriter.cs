using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Tinyo.Node.Backup;

/// <summary>
/// Writes a backup file: the clear header, then the records (<see cref="BackupRecordType"/>) through
/// <see cref="ChunkWriter"/>. Content streams through one chunk buffer, so a record of any size (a large KV snapshot,
/// a volume) never has to fit in memory. Call the records in order and <see cref="CompleteAsync"/> last; a file
/// without its final chunk is refused by every reader.
/// </summary>
public sealed class BackupWriter : IDisposable
{
    private readonly ChunkWriter chunks;
    private readonly byte[] segment = new byte[BackupRecords.MaxSegment];

    private BackupWriter(ChunkWriter chunks) => this.chunks = chunks;

    /// <summary>
    /// Derives the file's key from <paramref name="passphrase"/> and a fresh random salt, writes the header and
    /// returns the writer. <paramref name="iterations"/> and <paramref name="chunkSize"/> are for tests and the fuzz
    /// seeds; Tinyo writes the defaults.
    /// </summary>
    public static async Task<BackupWriter> CreateAsync(Stream output, string passphrase, CancellationToken ct,
        int iterations = BackupKeys.DefaultIterations, int chunkSize = BackupHeader.DefaultChunkSize)
    {
        if (passphrase.Length < BackupKeys.MinPassphraseLength)
            throw new BackupException($"the passphrase is too short: at least {BackupKeys.MinPassphraseLength} characters");
        var salt = RandomNumberGenerator.GetBytes(16);
        using var keys = BackupKeys.Derive(passphrase, salt, iterations);
        var header = new BackupHeader(BackupHeader.CurrentVersion, iterations, salt, chunkSize, keys.Check);
        await output.WriteAsync(header.ToBytes(), ct).ConfigureAwait(false);
        return new BackupWriter(new ChunkWriter(output, header, keys));
    }

    /// <summary>Writes the manifest record (first).</summary>
    public Task WriteManifestAsync(BackupManifest manifest, CancellationToken ct)
        => WriteAsync(BackupRecordType.Manifest, "", JsonSerializer.SerializeToUtf8Bytes(manifest, BackupJson.Default.BackupManifest), ct);

    /// <summary>Writes a record whose content is in memory.</summary>
    public async Task WriteAsync(BackupRecordType type, string name, ReadOnlyMemory<byte> content, CancellationToken ct)
    {
        await BeginAsync(type, name, ct).ConfigureAwait(false);
        while (!content.IsEmpty)
        {
            var n = Math.Min(content.Length, BackupRecords.MaxSegment);
            await SegmentAsync(content[..n], ct).ConfigureAwait(false);
            content = content[n..];
        }
        await EndAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Writes a record whose content is read from <paramref name="content"/> to its end, one segment at a time.</summary>
    public async Task WriteAsync(BackupRecordType type, string name, Stream content, CancellationToken ct)
    {
        await BeginAsync(type, name, ct).ConfigureAwait(false);
        int n;
        while ((n = await content.ReadAsync(segment, ct).ConfigureAwait(false)) > 0)
            await SegmentAsync(segment.AsMemory(0, n), ct).ConfigureAwait(false);
        await EndAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Writes the end record and the final chunk.</summary>
    public async Task CompleteAsync(CancellationToken ct)
    {
        await BeginAsync(BackupRecordType.End, "", ct).ConfigureAwait(false);
        await EndAsync(ct).ConfigureAwait(false);
        await chunks.CompleteAsync(ct).ConfigureAwait(false);
    }

    private async Task BeginAsync(BackupRecordType type, string name, CancellationToken ct)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        if (nameBytes.Length > BackupRecords.MaxName) throw new BackupException($"record name too long: {name}");
        var head = new byte[3 + nameBytes.Length];
        head[0] = (byte)type;
        BinaryPrimitives.WriteUInt16BigEndian(head.AsSpan(1), (ushort)nameBytes.Length);
        nameBytes.CopyTo(head, 3);
        await chunks.WriteAsync(head, ct).ConfigureAwait(false);
    }

    private async Task SegmentAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        var len = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        await chunks.WriteAsync(len, ct).ConfigureAwait(false);
        await chunks.WriteAsync(data, ct).ConfigureAwait(false);
    }

    private ValueTask EndAsync(CancellationToken ct) => chunks.WriteAsync(new byte[4], ct);

    /// <summary>Releases the cipher and zeroes the buffers.</summary>
    public void Dispose()
    {
        chunks.Dispose();
        CryptographicOperations.ZeroMemory(segment);
    }
}
