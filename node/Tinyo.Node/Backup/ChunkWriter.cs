using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Tinyo.Node.Backup;

/// <summary>
/// Encrypts a stream of plain bytes into AES-256-GCM chunks (the STREAM construction): each chunk of
/// <see cref="BackupHeader.ChunkSize"/> plain bytes is <c>[u32 length | final bit 31][ciphertext][16-byte tag]</c>
/// with the nonce <c>u64 chunk index ‖ u32 final flag</c> and the header as associated data. A key is used for one
/// file only (the salt is random), so counter nonces never repeat; the index in the nonce makes reordered or dropped
/// chunks fail, and the final flag makes a file cut at a chunk boundary fail. Only one chunk is held in memory.
/// </summary>
internal sealed class ChunkWriter : IDisposable
{
    private readonly Stream output;
    private readonly AesGcm aes;
    private readonly byte[] header;
    private readonly byte[] plain;
    private readonly byte[] frame;
    private int fill;
    private long index;
    private bool completed;

    public ChunkWriter(Stream output, BackupHeader header, BackupKeys keys)
    {
        this.output = output;
        this.header = header.ToBytes();
        aes = new AesGcm(keys.Aead, 16);
        plain = new byte[header.ChunkSize];
        frame = new byte[4 + header.ChunkSize + 16];
    }

    /// <summary>Adds plain bytes; full chunks are encrypted and written as they fill.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (completed) throw new InvalidOperationException("the backup is already complete");
        while (!data.IsEmpty)
        {
            // A full chunk is written only when more data follows, so the last chunk always carries the final flag.
            if (fill == plain.Length) await FlushAsync(final: false, ct).ConfigureAwait(false);
            var n = Math.Min(plain.Length - fill, data.Length);
            data.Span[..n].CopyTo(plain.AsSpan(fill));
            fill += n;
            data = data[n..];
        }
    }

    /// <summary>Writes the last chunk (flagged final, possibly empty) and flushes the output.</summary>
    public async ValueTask CompleteAsync(CancellationToken ct)
    {
        await FlushAsync(final: true, ct).ConfigureAwait(false);
        completed = true;
        await output.FlushAsync(ct).ConfigureAwait(false);
    }

    private async ValueTask FlushAsync(bool final, CancellationToken ct)
    {
        var len = Seal(final);
        await output.WriteAsync(frame.AsMemory(0, len), ct).ConfigureAwait(false);
        CryptographicOperations.ZeroMemory(plain.AsSpan(0, fill));
        fill = 0;
        index++;
    }

    private int Seal(bool final)
    {
        Span<byte> nonce = stackalloc byte[12];
        Nonce(nonce, index, final);
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)fill | (final ? 0x8000_0000u : 0));
        aes.Encrypt(nonce, plain.AsSpan(0, fill), frame.AsSpan(4, fill), frame.AsSpan(4 + fill, 16), header);
        return 4 + fill + 16;
    }

    /// <summary>The nonce of chunk <paramref name="index"/>: the index, then 1 for the final chunk, else 0.</summary>
    internal static void Nonce(Span<byte> nonce, long index, bool final)
    {
        BinaryPrimitives.WriteInt64BigEndian(nonce, index);
        BinaryPrimitives.WriteUInt32BigEndian(nonce[8..], final ? 1u : 0u);
    }

    public void Dispose()
    {
        aes.Dispose();
        CryptographicOperations.ZeroMemory(plain);
    }
}
