using Tinyo.Rt.Images;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Rt.Tests.Images;

/// <summary>Assertions shared by the pull tests.</summary>
internal static class PullAssert
{
    /// <summary>The busybox image is stored, named, unpacked correctly, and nothing temporary is left.</summary>
    public static void BusyboxStored(RuntimeRoot root, BusyboxImage img, ImageRecord rec)
    {
        var store = new ImageStore(root);
        Assert.True(store.HasBlob(Digest.Parse(img.ManifestDigest)) || rec.Digest != img.ManifestDigest);
        Assert.True(store.HasBlob(Digest.Parse(img.ConfigDigest)));
        Assert.True(store.HasBlob(Digest.Parse(img.LayerDigest)));
        Assert.Equal(img.ConfigDigest, rec.Config);
        var stored = store.Load(store.Find(rec.Name));
        Assert.Equal(["sh"], stored.Config.Config!.Cmd!);
        var layer = Assert.Single(stored.LayerDirs);
        Assert.Equal(store.LayerPath(Digest.Parse(img.DiffId)), layer);
        Assert.Equal(File.ReadAllBytes("/bin/busybox"), File.ReadAllBytes(Path.Combine(layer, "bin", "busybox")));
        Assert.Equal("busybox", new FileInfo(Path.Combine(layer, "bin", "sh")).LinkTarget);
        Assert.Equal("busybox", new FileInfo(Path.Combine(layer, "bin", "httpd")).LinkTarget);
        NoLeftovers(root);
    }

    /// <summary>No partial downloads, no temp unpack dirs.</summary>
    public static void NoLeftovers(RuntimeRoot root)
    {
        if (Directory.Exists(root.Tmp)) Assert.Empty(Directory.EnumerateFileSystemEntries(root.Tmp));
        if (Directory.Exists(root.Layers))
            Assert.DoesNotContain(Directory.EnumerateDirectories(root.Layers), d => Path.GetFileName(d).StartsWith('.'));
    }
}
