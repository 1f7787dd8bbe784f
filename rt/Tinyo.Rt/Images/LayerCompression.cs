using System.IO.Compression;

namespace Tinyo.Rt.Images;

/// <summary>
/// Chooses and opens the decompressor of a layer blob: by its media type when that is specific, by its first bytes
/// (magic numbers) when the media type is generic (<c>application/octet-stream</c>, empty, or unknown).
/// </summary>
internal static class LayerCompression
{
    /// <summary>The compression of a layer.</summary>
    public enum Kind { Plain, Gzip, Zstd }

    /// <summary>
    /// The compression a media type declares, or <c>null</c> when it does not say (then the magic bytes decide).
    /// Throws <see cref="RtException"/> for layer types that cannot be unpacked: foreign/non-distributable layers
    /// (their blob lives at URLs outside the registry and their licence forbids redistribution) and encrypted ones.
    /// </summary>
    public static Kind? FromMediaType(string? mediaType)
    {
        switch (mediaType)
        {
            case "application/vnd.oci.image.layer.v1.tar":
            case "application/vnd.docker.image.rootfs.diff.tar":
                return Kind.Plain;
            case "application/vnd.oci.image.layer.v1.tar+gzip":
            case "application/vnd.docker.image.rootfs.diff.tar.gzip":
                return Kind.Gzip;
            case "application/vnd.oci.image.layer.v1.tar+zstd":
                return Kind.Zstd;
        }
        if (mediaType is null) return null;
        if (mediaType.Contains(".foreign.", StringComparison.Ordinal) || mediaType.Contains(".nondistributable.", StringComparison.Ordinal))
            throw new RtException($"layer media type '{Printable(mediaType)}' is a foreign (non-distributable) layer: it is not served by the registry and cannot be unpacked");
        if (mediaType.EndsWith("+encrypted", StringComparison.Ordinal))
            throw new RtException($"layer media type '{Printable(mediaType)}' is an encrypted layer, which is not supported");
        return null;
    }

    /// <summary>The compression that the first bytes of a blob reveal; throws for compressions layers do not use.</summary>
    public static Kind Sniff(ReadOnlySpan<byte> head)
    {
        if (head.Length >= 2 && head[0] == 0x1F && head[1] == 0x8B) return Kind.Gzip;
        if (head.Length >= 4 && head[0] == 0x28 && head[1] == 0xB5 && head[2] == 0x2F && head[3] == 0xFD) return Kind.Zstd;
        if (head.Length >= 3 && head[0] == (byte)'B' && head[1] == (byte)'Z' && head[2] == (byte)'h')
            throw new RtException("layer is bzip2-compressed, which OCI images do not use and tinyort does not support");
        if (head.Length >= 6 && head[0] == 0xFD && head[1] == (byte)'7' && head[2] == (byte)'z' && head[3] == (byte)'X' && head[4] == (byte)'Z' && head[5] == 0)
            throw new RtException("layer is xz-compressed, which OCI images do not use and tinyort does not support");
        return Kind.Plain;
    }

    /// <summary>Wraps <paramref name="layer"/> in the decompressor its media type or magic bytes call for.</summary>
    public static Stream Open(Stream layer, string? mediaType, out Kind kind)
    {
        var declared = FromMediaType(mediaType);
        Stream source = layer;
        if (declared is { } k) kind = k;
        else
        {
            // Peek at the magic bytes, then put them back in front of the stream.
            var head = new byte[6];
            int n = 0;
            try
            {
                while (n < head.Length)
                {
                    int r = layer.Read(head, n, head.Length - n);
                    if (r == 0) break;
                    n += r;
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or NotSupportedException)
            {
                throw new RtException($"reading layer: {e.Message}", e);
            }
            kind = Sniff(head.AsSpan(0, n));
            source = new PrefixedStream(head.AsMemory(0, n), layer);
        }
        return kind switch
        {
            Kind.Gzip => new GZipStream(source, CompressionMode.Decompress, leaveOpen: true),
            Kind.Zstd => new ZstdSharp.DecompressionStream(source, bufferSize: 1 << 17, checkEndOfStream: true, leaveOpen: true),
            _ => source,
        };
    }

    internal static string Printable(string s)
    {
        if (s.Length > 200) s = s[..200] + "…";
        foreach (var c in s)
            if (char.IsControl(c)) return string.Create(s.Length, s, static (span, src) =>
            {
                for (int i = 0; i < src.Length; i++) span[i] = char.IsControl(src[i]) ? '?' : src[i];
            });
        return s;
    }

    /// <summary>A read-only stream that yields a few peeked bytes, then the rest of the inner stream.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream inner) : ReadOnlyStream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;

        public override int Read(Span<byte> buffer)
        {
            if (!_prefix.IsEmpty)
            {
                int n = Math.Min(buffer.Length, _prefix.Length);
                _prefix.Span[..n].CopyTo(buffer);
                _prefix = _prefix[n..];
                return n;
            }
            return inner.Read(buffer);
        }

    }
}
