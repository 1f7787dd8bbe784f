using Tinyo.Rt.Images;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Rt.Tests.Images;

/// <summary>
/// A pull that does not fit on its disk (issue 10, item 7): it says so, and leaves no partial files that would keep
/// the disk full (a kept <c>.partial</c> blob, meant for resuming, did).
/// </summary>
public class PullDiskFullTests
{
    [SkippableFact]
    public async Task A_blob_that_does_not_fit_is_removed_and_the_error_says_the_disk_is_full()
    {
        var img = BusyboxImage.Get();
        var blobSize = new FileInfo(img.BlobPath(img.LayerDigest)).Length;
        using var disk = new SmallTmpfs(blobSize / 2 / 1024);
        Skip.If(disk.Unavailable is not null, "needs root to mount a tmpfs");
        using var registry = new FakeRegistry(img.Layout);
        var root = new RuntimeRoot(Path.Combine(disk.Dir, "rt"));
        var e = await Assert.ThrowsAsync<RtException>(() => new Puller(new ImageStore(root)).PullAsync(ImageReference.Parse($"{registry.Host}/busybox")));
        Assert.Contains("no space left on device", e.Message);
        Assert.Contains(img.LayerDigest, e.Message);
        PullAssert.NoLeftovers(root);
        Assert.Empty(new ImageStore(root).ListImages());
        Assert.True(disk.Free > blobSize / 4, $"only {disk.Free} bytes free after the failed pull: something was left behind");
    }

    [SkippableFact]
    public async Task A_layer_that_does_not_unpack_leaves_no_partial_directory()
    {
        var img = BusyboxImage.Get();
        var blobSize = new FileInfo(img.BlobPath(img.LayerDigest)).Length;
        // Room for the compressed blob (and the small config and manifest), not for its unpacked content.
        using var disk = new SmallTmpfs(blobSize / 1024 + 256);
        Skip.If(disk.Unavailable is not null, "needs root to mount a tmpfs");
        using var registry = new FakeRegistry(img.Layout);
        var root = new RuntimeRoot(Path.Combine(disk.Dir, "rt"));
        var e = await Assert.ThrowsAsync<RtException>(() => new Puller(new ImageStore(root)).PullAsync(ImageReference.Parse($"{registry.Host}/busybox")));
        Assert.Contains("no space left on device", e.Message);
        PullAssert.NoLeftovers(root);
        Assert.False(new ImageStore(root).HasLayer(Digest.Parse(img.DiffId)));
        Assert.Empty(new ImageStore(root).ListImages());
    }
}
