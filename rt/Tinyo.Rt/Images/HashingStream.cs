using System.Security.Cryptography;

namespace Tinyo.Rt.Images;

/// <summary>
/// A read-only, unseekable pass-through that SHA-256-hashes and counts every byte read: the diff_id of a layer is the
/// digest of its uncompressed tar stream, computed here as the unpacker reads it. Failures of the inner
/// (decompressing) stream surface as <see cref="RtException"/> naming the uncompressed offset.
/// </summary>
/// <remarks>Being unseekable also keeps <c>TarReader</c> on its streaming path, which reads every byte in order.</remarks>
internal sealed class HashingStream(Stream inner, string what) : ReadOnlyStream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _position;
    private bool _eof;

    /// <summary>Bytes read so far.</summary>
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    /// <summary>True once the inner stream returned end-of-stream.</summary>
    public bool AtEnd => _eof;

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty || _eof) return 0;
        int n;
        try
        {
            n = inner.Read(buffer);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or ZstdSharp.ZstdException)
        {
            throw new DecompressionException($"layer is not a valid {what} stream (at uncompressed offset {_position}): {e.Message}", e);
        }
        catch (Exception e) when (e is not OperationCanceledException and not RtException)
        {
            // The source itself failed (network, disk): say so rather than blame the compression.
            throw new DecompressionException($"reading layer failed (at uncompressed offset {_position}): {e.Message}", e);
        }
        if (n == 0) { _eof = true; return 0; }
        _hash.AppendData(buffer[..n]);
        _position += n;
        return n;
    }


    /// <summary>Reads (and hashes) whatever follows the tar's end-of-archive marker, up to the end of the stream.</summary>
    public void DrainToEnd(byte[] buffer, CancellationToken ct)
    {
        while (Read(buffer) > 0) ct.ThrowIfCancellationRequested();
    }

    /// <summary>The digest of everything read.</summary>
    public Digest GetDigest()
    {
        Span<byte> h = stackalloc byte[32];
        _hash.GetCurrentHash(h);
        return Digest.FromHash(h);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _hash.Dispose();
        base.Dispose(disposing);
    }

}

/// <summary>The compressed stream of a layer is corrupt or truncated (as opposed to the tar inside it).</summary>
internal sealed class DecompressionException(string message, Exception inner) : RtException(message, inner);
