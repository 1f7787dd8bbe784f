using System.Text;
using System.Text.Json;
using Tinyo.Rt.Images;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Rt.Tests.Images;

/// <summary>Pulls from Debian's docker-registry on loopback, the image pushed there by skopeo.</summary>
public class RegistryPullTests
{
    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    public async Task PullsAndUnpacksBusybox(string compression)
    {
        var img = BusyboxImage.Get(compression);
        using var registry = new TestRegistry();
        registry.Push(img.Layout, "latest", "tinyo/busybox:latest");
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var rec = await new Puller(new ImageStore(root)).PullAsync(ImageReference.Parse($"{registry.Host}/tinyo/busybox"));
        Assert.Equal($"{registry.Host}/tinyo/busybox:latest", rec.Name);
        Assert.Equal(img.ManifestDigest, rec.Digest);
        PullAssert.BusyboxStored(root, img, rec);

        // A second pull is a no-op that finds everything in place.
        var again = await new Puller(new ImageStore(root)).PullAsync(ImageReference.Parse($"{registry.Host}/tinyo/busybox:latest"));
        Assert.Equal(rec.Digest, again.Digest);
        Assert.Single(new ImageStore(root).ListImages());
    }

    [Fact]
    public async Task PullsOverTlsFromLoopbackRegistry()
    {
        // TLS-only registry: success proves the HTTPS path (loopback registries are tried over HTTPS first, without
        // certificate checks, as Docker treats them as insecure).
        var img = BusyboxImage.Get();
        using var registry = new TestRegistry(tls: true);
        registry.Push(img.Layout, "latest", "busybox:tls");
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var rec = await new Puller(new ImageStore(root)).PullAsync(ImageReference.Parse($"{registry.Host}/busybox:tls"));
        PullAssert.BusyboxStored(root, img, rec);

        using var dir2 = new TempDir();
        var (code, stdout, stderr) = TestPaths.Run(TestPaths.Tinyort, ["--root", dir2.Path, "pull", $"{registry.Host}/busybox:tls"]);
        Assert.True(code == 0, stderr);
        Assert.Contains(img.ManifestDigest, stdout);
    }

    [Fact]
    public async Task PullsUncompressedLayers()
    {
        // skopeo would gzip a plain layer on push, so the layout is served as is by the fake registry.
        var img = BusyboxImage.Get("none");
        using var registry = new FakeRegistry(img.Layout);
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var rec = await new Puller(new ImageStore(root)).PullAsync(ImageReference.Parse($"{registry.Host}/busybox"));
        Assert.Equal(img.ManifestDigest, rec.Digest);
        PullAssert.BusyboxStored(root, img, rec);
    }

    [Fact]
    public async Task PullsByDigestAndRejectsUnknownDigest()
    {
        var img = BusyboxImage.Get();
        using var registry = new TestRegistry();
        registry.Push(img.Layout, "latest", "busybox:v1");
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var puller = new Puller(new ImageStore(root));
        var rec = await puller.PullAsync(ImageReference.Parse($"{registry.Host}/busybox@{img.ManifestDigest}"));
        Assert.Equal($"{registry.Host}/busybox@{img.ManifestDigest}", rec.Name);
        PullAssert.BusyboxStored(root, img, rec);

        var missing = "sha256:" + new string('0', 64);
        var e = await Assert.ThrowsAsync<RtException>(() => puller.PullAsync(ImageReference.Parse($"{registry.Host}/busybox@{missing}")));
        Assert.Contains("not found", e.Message);
        e = await Assert.ThrowsAsync<RtException>(() => puller.PullAsync(ImageReference.Parse($"{registry.Host}/busybox:nope")));
        Assert.Contains("not found", e.Message);
        e = await Assert.ThrowsAsync<RtException>(() => puller.PullAsync(ImageReference.Parse($"{registry.Host}/nosuchrepo:latest")));
        Assert.Contains("not found", e.Message);
        Assert.Single(new ImageStore(root).ListImages());
    }

    [Fact]
    public async Task IndexResolvesToHostPlatform()
    {
        var amd = BusyboxImage.Get();
        var arm = BusyboxImage.Get("gzip", "arm64");
        using var layoutDir = new TempDir();
        var indexDigest = MultiArchLayout(layoutDir.Path, amd, arm);
        using var registry = new TestRegistry();
        registry.Push(layoutDir.Path, "multi", "multi:latest", all: true);
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var puller = new Puller(new ImageStore(root));

        var rec = await puller.PullAsync(ImageReference.Parse($"{registry.Host}/multi"));
        Assert.Equal(indexDigest, rec.Digest);
        Assert.Equal(amd.ManifestDigest, rec.Manifest);
        Assert.Equal(amd.ConfigDigest, rec.Config);
        PullAssert.BusyboxStored(root, amd, rec);

        var armRec = await puller.PullAsync(ImageReference.Parse($"{registry.Host}/multi:latest"), new PullOptions { Platform = Platform.Parse("linux/arm64") });
        Assert.Equal(arm.ManifestDigest, armRec.Manifest);

        var e = await Assert.ThrowsAsync<RtException>(() => puller.PullAsync(ImageReference.Parse($"{registry.Host}/multi"), new PullOptions { Platform = Platform.Parse("linux/s390x") }));
        Assert.Contains("no image for platform linux/s390x", e.Message);
        Assert.Contains("linux/arm64", e.Message);
    }

    /// <summary>Writes an OCI layout whose tag "multi" is an index of the amd64 and (fake) arm64 busybox manifests.</summary>
    internal static string MultiArchLayout(string dir, BusyboxImage amd, BusyboxImage arm)
    {
        var blobs = Path.Combine(dir, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        foreach (var src in new[] { amd, arm })
            foreach (var f in Directory.GetFiles(Path.Combine(src.Layout, "blobs", "sha256")))
                File.Copy(f, Path.Combine(blobs, Path.GetFileName(f)), overwrite: true);
        string Entry(BusyboxImage i, string arch)
            => $$$"""{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{{{i.ManifestDigest}}}","size":{{{new FileInfo(i.BlobPath(i.ManifestDigest)).Length}}},"platform":{"architecture":"{{{arch}}}","os":"linux"}}""";
        var index = Encoding.UTF8.GetBytes($$"""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{Entry(arm, "arm64")}},{{Entry(amd, "amd64")}}]}""");
        var digest = Digest.Compute(index);
        File.WriteAllBytes(Path.Combine(blobs, digest.Hex), index);
        File.WriteAllText(Path.Combine(dir, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        File.WriteAllText(Path.Combine(dir, "index.json"),
            $$$"""{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{{{digest}}}","size":{{{index.Length}}},"annotations":{"org.opencontainers.image.ref.name":"multi"}}]}""");
        return digest.ToString();
    }
}
