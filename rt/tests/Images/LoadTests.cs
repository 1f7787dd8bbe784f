using System.Formats.Tar;
using Tinyo.Rt.Images;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Rt.Tests.Images;

/// <summary><c>load</c> of OCI layouts and archives; docker save tarballs as skopeo (an independent tool) writes them.</summary>
public class LoadTests
{
    [Fact]
    public async Task LoadsOciLayoutDirectoryAndArchives()
    {
        var img = BusyboxImage.Get();
        using var work = new TempDir();
        var dockerArchive = Path.Combine(work.Path, "saved.tar");
        var ociArchive = Path.Combine(work.Path, "oci.tar");
        TestPaths.Check("skopeo", "copy", "-q", $"oci:{img.Layout}:latest", $"docker-archive:{dockerArchive}:busybox:saved");
        TestPaths.Check("skopeo", "copy", "-q", $"oci:{img.Layout}:latest", $"oci-archive:{ociArchive}:latest");
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var loader = new ImageLoader(new ImageStore(root));

        var fromDir = Assert.Single(await loader.LoadAsync(img.Layout, "example.com/tinyo/busybox"));
        Assert.Equal("example.com/tinyo/busybox:latest", fromDir.Name);
        Assert.Equal(img.ManifestDigest, fromDir.Digest);
        PullAssert.BusyboxStored(root, img, fromDir);

        var fromOciTar = Assert.Single(await loader.LoadAsync(ociArchive));
        Assert.Equal("localhost/oci:latest", fromOciTar.Name);
        Assert.Equal(img.ManifestDigest, fromOciTar.Digest);

        var fromDocker = Assert.Single(await loader.LoadAsync(dockerArchive));
        Assert.Equal("docker.io/library/busybox:saved", fromDocker.Name);
        Assert.Equal(img.ConfigDigest, fromDocker.Config); // same image, its uncompressed layer has the same diff_id
        PullAssert.BusyboxStored(root, img, fromDocker);
        Assert.Equal(3, new ImageStore(root).ListImages().Count);
    }

    [Fact]
    public async Task CorruptBlobInLayoutIsRejected()
    {
        var img = BusyboxImage.Get();
        using var work = new TempDir();
        TestPaths.Check("cp", "-r", img.Layout + "/.", work.Path);
        var layer = Path.Combine(work.Path, "blobs", "sha256", img.LayerDigest[7..]);
        var bytes = File.ReadAllBytes(layer);
        bytes[bytes.Length / 2] ^= 1;
        File.WriteAllBytes(layer, bytes);
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var e = await Assert.ThrowsAsync<RtException>(() => new ImageLoader(new ImageStore(root)).LoadAsync(work.Path));
        Assert.Contains("digest mismatch", e.Message);
        Assert.Empty(new ImageStore(root).ListImages());
        Assert.False(new ImageStore(root).HasLayer(Digest.Parse(img.DiffId)));
        PullAssert.NoLeftovers(root);
    }

    [Theory]
    [InlineData("../manifest.json", "invalid path")]
    [InlineData("/etc/manifest.json", "invalid path")]
    public async Task HostileArchivePathsAreRejected(string entryName, string expected)
    {
        using var work = new TempDir();
        var tarPath = Path.Combine(work.Path, "evil.tar");
        await using (var f = File.Create(tarPath))
        await using (var w = new TarWriter(f, TarEntryFormat.Pax))
        {
            var e = new PaxTarEntry(TarEntryType.RegularFile, entryName) { DataStream = new MemoryStream("[]"u8.ToArray()) };
            await w.WriteEntryAsync(e);
        }
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var ex = await Assert.ThrowsAsync<RtException>(() => new ImageLoader(new ImageStore(root)).LoadAsync(tarPath));
        Assert.Contains(expected, ex.Message);
        PullAssert.NoLeftovers(root);
    }

    [Fact]
    public async Task NotAnImageIsAClearError()
    {
        using var work = new TempDir();
        using var dir = new TempDir();
        var e = await Assert.ThrowsAsync<RtException>(() => new ImageLoader(new ImageStore(new RuntimeRoot(dir.Path))).LoadAsync(work.Path));
        Assert.Contains("neither an OCI image layout", e.Message);
        File.WriteAllText(Path.Combine(work.Path, "junk.tar"), "this is not a tar archive at all, just text that is long enough to be read as a header block maybe");
        e = await Assert.ThrowsAsync<RtException>(() => new ImageLoader(new ImageStore(new RuntimeRoot(dir.Path))).LoadAsync(Path.Combine(work.Path, "junk.tar")));
        Assert.Contains("junk.tar", e.Message);
    }
}
