using System.Text.Json;

namespace Tinyo.Rt.Tests.Fixtures;

/// <summary>
/// The busybox OCI image layout built by scripts/make-busybox-image.sh (Debian's busybox-static). The build is
/// deterministic, so it is cached under artifacts/test-images/, keyed by the script and busybox binary (not a temp
/// dir: a test host killed mid-run would leak it).
/// </summary>
public sealed class BusyboxImage
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, BusyboxImage> Built = [];
    private static readonly string CacheDir = System.IO.Path.Combine(TestPaths.RepoRoot, "artifacts", "test-images", CacheKey());

    private static string CacheKey()
    {
        var script = File.ReadAllBytes(System.IO.Path.Combine(TestPaths.RepoRoot, "scripts", "make-busybox-image.sh"));
        var bb = new FileInfo("/bin/busybox");
        var id = System.Text.Encoding.UTF8.GetBytes($"{bb.Length}:{bb.LastWriteTimeUtc.Ticks}");
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData([.. script, .. id]))[..16];
    }

    private BusyboxImage(string layout, string tag)
    {
        Layout = layout;
        Tag = tag;
        using var index = JsonDocument.Parse(File.ReadAllText(System.IO.Path.Combine(layout, "index.json")));
        ManifestDigest = index.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString()!;
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(BlobPath(ManifestDigest)));
        ConfigDigest = manifest.RootElement.GetProperty("config").GetProperty("digest").GetString()!;
        LayerDigest = manifest.RootElement.GetProperty("layers")[0].GetProperty("digest").GetString()!;
        using var config = JsonDocument.Parse(File.ReadAllBytes(BlobPath(ConfigDigest)));
        DiffId = config.RootElement.GetProperty("rootfs").GetProperty("diff_ids")[0].GetString()!;
    }

    /// <summary>The OCI layout directory.</summary>
    public string Layout { get; }
    public string Tag { get; }
    public string ManifestDigest { get; }
    public string ConfigDigest { get; }
    public string LayerDigest { get; }
    public string DiffId { get; }

    public string BlobPath(string digest) => System.IO.Path.Combine(Layout, "blobs", "sha256", digest[7..]);

    /// <summary>The image with gzip (default), zstd or none layer compression.</summary>
    public static BusyboxImage Get(string compression = "gzip", string arch = "amd64")
    {
        lock (Gate)
        {
            var key = compression + "-" + arch;
            if (Built.TryGetValue(key, out var img)) return img;
            var layout = System.IO.Path.Combine(CacheDir, key);
            if (!File.Exists(System.IO.Path.Combine(layout, "index.json")))
            {
                // Build beside, then rename: another test process may be building the same one.
                Directory.CreateDirectory(CacheDir);
                var tmp = layout + ".tmp-" + Environment.ProcessId;
                var (code, o, e) = TestPaths.Run(System.IO.Path.Combine(TestPaths.RepoRoot, "scripts", "make-busybox-image.sh"),
                    [tmp, "latest"], new Dictionary<string, string> { ["COMPRESSION"] = compression, ["ARCH"] = arch });
                if (code != 0) throw new InvalidOperationException($"make-busybox-image.sh failed: {e}{o}");
                try
                {
                    Directory.Move(tmp, layout);
                }
                catch (IOException) when (File.Exists(System.IO.Path.Combine(layout, "index.json")))
                {
                    Directory.Delete(tmp, recursive: true);
                }
            }
            img = new BusyboxImage(layout, "latest");
            Built[key] = img;
            return img;
        }
    }
}
