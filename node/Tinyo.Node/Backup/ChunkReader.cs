using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Tinyo.Node.Backup;

/// <summary>
/// Reads and authenticates the chunks <see cref="ChunkWriter"/> wrote, handing out plain bytes only from chunks whose
/// tag verified. The end is the chunk flagged final, followed by the end of the file: a file cut anywhere, a chunk
/// changed, dropped, repeated or moved, or bytes appended are each refused with the chunk and byte offset.
/// </summary>
internal sealed class ChunkReader : IPlainSource, IDisposable
{
    private readonly Stream input;
    private readonly AesGcm aes;
    private readonly byte[] header;
    private readonly int chunkSize;
    private readonly byte[] cipher;
    private readonly byte[] plain;
    private int plainLength, plainPos;
    private long index;
    private long offset;
    private bool final;

    public ChunkReader(Stream input, byte[] headerBytes, BackupHeader header, BackupKeys keys)
    {
        this.input = input;
        this.header = headerBytes;
        chunkSize = header.ChunkSize;
        aes = new AesGcm(keys.Aead, 16);
        cipher = new byte[chunkSize + 16];
        plain = new byte[chunkSize];
        offset = BackupHeader.Size;
    }

    /// <summary>Chunks authenticated so far.</summary>
    public long Chunks => index;

    /// <inheritdoc/>
    public int Read(Span<byte> dest)
    {
        while (plainPos == plainLength)
        {
            if (!NextChunk()) return 0;
        }
        var n = Math.Min(dest.Length, plainLength - plainPos);
        plain.AsSpan(plainPos, n).CopyTo(dest);
        plainPos += n;
        return n;
    }

    private bool NextChunk()
    {
        if (final)
        {
            Span<byte> one = stackalloc byte[1];
            if (input.Read(one) > 0) throw new BackupException($"bytes follow the final chunk at offset {offset}: data was appended to the file");
            return false;
        }
        var start = offset;
        Span<byte> head = stackalloc byte[4];
        var got = Fill(head);
        if (got == 0) throw new BackupException($"truncated: the file ends after chunk {index} (offset {offset}) without its final chunk");
        if (got < 4) throw new BackupException($"truncated: the file ends inside chunk {index}'s length (offset {start})");
        var word = BinaryPrimitives.ReadUInt32BigEndian(head);
        var isFinal = (word & 0x8000_0000u) != 0;
        var len = (int)(word & 0x7FFF_FFFFu);
        if (len > chunkSize || (!isFinal && len != chunkSize))
            throw new BackupException($"chunk {index} at offset {start} claims {len} bytes (chunks hold {chunkSize}): the file was changed");
        got = Fill(cipher.AsSpan(0, len + 16));
        if (got < len + 16) throw new BackupException($"truncated: the file ends inside chunk {index} (offset {start}, {got} of {len + 16} bytes)");
        Span<byte> nonce = stackalloc byte[12];
        ChunkWriter.Nonce(nonce, index, isFinal);
        try
        {
            aes.Decrypt(nonce, cipher.AsSpan(0, len), cipher.AsSpan(len, 16), plain.AsSpan(0, len), header);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new BackupException($"chunk {index} (offset {start}, {len + 20} bytes) fails authentication: the file was changed or damaged");
        }
        plainLength = len;
        plainPos = 0;
        final = isFinal;
        index++;
        return true;
    }

    /// <summary>Reads until <paramref name="dest"/> is full or the file ends; returns the bytes read.</summary>
    private int Fill(Span<byte> dest)
    {
        var total = 0;
        while (total < dest.Length)
        {
            var n = input.Read(dest[total..]);
            if (n == 0) break;
            total += n;
        }
        offset += total;
        return total;
    }

    public void Dispose()
    {
        aes.Dispose();
        CryptographicOperations.ZeroMemory(plain);
    }
}

/// <summary>A source of plain backup bytes (the decrypted chunks, or raw bytes in the fuzz target).</summary>
public interface IPlainSource
{
    /// <summary>Reads up to <paramref name="dest"/>'s length; 0 at the end.</summary>
    int Read(Span<byte> dest);
}
