using System.Text.Json;

namespace Tinyo.Rt.Tests.Fixtures;

/// <summary>
/// The busybox OCI image layout built by scripts/make-busybox-image.sh (Debian's busybox-static), once per test run
/// and compression, in a temp dir removed at process exit.
/// </summary>
public sealed class BusyboxImage
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, BusyboxImage> Built = [];
    private static readonly TempDir Dir = CreateDir();

    private static TempDir CreateDir()
    {
        var d = new TempDir("tinyo-bbimg-");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => d.Dispose();
        return d;
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
            var layout = System.IO.Path.Combine(Dir.Path, key);
            var (code, o, e) = TestPaths.Run(System.IO.Path.Combine(TestPaths.RepoRoot, "scripts", "make-busybox-image.sh"),
                [layout, "latest"], new Dictionary<string, string> { ["COMPRESSION"] = compression, ["ARCH"] = arch });
            if (code != 0) throw new InvalidOperationException($"make-busybox-image.sh failed: {e}{o}");
            img = new BusyboxImage(layout, "latest");
            Built[key] = img;
            return img;
        }
    }
}
