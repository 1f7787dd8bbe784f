// TEMPORARY stand-in (h1): deleted before merging h2-unpack, which owns the real LayerUnpacker.
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Tinyo.Rt.Images;

/// <summary>Temporary stand-in for h2's unpacker.</summary>
public static class LayerUnpacker
{
    /// <summary>Temporary stand-in for h2's unpacker.</summary>
    public static async Task<Digest> UnpackAsync(Stream layer, string mediaType, string destDir, CancellationToken ct = default)
    {
        Stream s = mediaType.EndsWith("gzip", StringComparison.Ordinal) ? new GZipStream(layer, CompressionMode.Decompress)
            : mediaType.EndsWith("zstd", StringComparison.Ordinal) ? new ZstdSharp.DecompressionStream(layer) : layer;
        var tmp = Path.Combine(Path.GetDirectoryName(destDir)!, "." + Path.GetFileName(destDir) + ".partial-" + Random.Shared.Next().ToString("x8"));
        Directory.CreateDirectory(tmp);
        var ms = new MemoryStream();
        await s.CopyToAsync(ms, ct);
        var d = Digest.FromHash(SHA256.HashData(ms.ToArray()));
        ms.Position = 0;
        await TarFile.ExtractToDirectoryAsync(ms, tmp, true, ct);
        Directory.Move(tmp, destDir);
        return d;
    }
}
