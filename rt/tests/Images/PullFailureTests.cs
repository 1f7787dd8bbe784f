using System.Diagnostics;
using Tinyo.Rt.Images;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Rt.Tests.Images;

/// <summary>
/// What a real registry will not do on demand: tampered blobs, slow blobs for concurrent pulls and kill -9,
/// served by <see cref="FakeRegistry"/>.
/// </summary>
public class PullFailureTests
{
    [Fact]
    public async Task TamperedLayerIsRejectedAndLeavesNothing()
    {
        var img = BusyboxImage.Get();
        using var registry = new FakeRegistry(img.Layout);
        registry.Tampered[img.LayerDigest] = true;
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var e = await Assert.ThrowsAsync<RtException>(() => new Puller(new ImageStore(root)).PullAsync(ImageReference.Parse($"{registry.Host}/busybox")));
        Assert.Contains("digest mismatch", e.Message);
        Assert.Contains(img.LayerDigest, e.Message);
        var store = new ImageStore(root);
        Assert.Empty(store.ListImages());
        Assert.False(store.HasBlob(Digest.Parse(img.LayerDigest)));
        Assert.False(store.HasBlob(Digest.Parse(img.ManifestDigest)));
        Assert.False(store.HasLayer(Digest.Parse(img.DiffId)));
        PullAssert.NoLeftovers(root);
    }

    [Fact]
    public async Task TamperedConfigIsRejected()
    {
        var img = BusyboxImage.Get();
        using var registry = new FakeRegistry(img.Layout);
        registry.Tampered[img.ConfigDigest] = true;
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var e = await Assert.ThrowsAsync<RtException>(() => new Puller(new ImageStore(root)).PullAsync(ImageReference.Parse($"{registry.Host}/busybox")));
        Assert.Contains("digest mismatch", e.Message);
        Assert.Empty(new ImageStore(root).ListImages());
        Assert.Equal(0, registry.BlobGets.GetValueOrDefault(img.LayerDigest)); // nothing fetched on a bad config
        PullAssert.NoLeftovers(root);
    }

    [Fact]
    public async Task ManifestPinnedByDigestMustMatch()
    {
        var img = BusyboxImage.Get();
        var zstd = BusyboxImage.Get("zstd");
        using var registry = new FakeRegistry(img.Layout);
        // Asked for the gzip image's manifest by digest, the registry answers with another (valid) manifest.
        registry.ManifestOverrides[img.ManifestDigest] = File.ReadAllBytes(zstd.BlobPath(zstd.ManifestDigest));
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var e = await Assert.ThrowsAsync<RtException>(() => new Puller(new ImageStore(root)).PullAsync(ImageReference.Parse($"{registry.Host}/busybox@{img.ManifestDigest}")));
        Assert.Contains("digest mismatch", e.Message);
        Assert.Contains(zstd.ManifestDigest, e.Message);
        Assert.Empty(registry.BlobGets);
        Assert.Empty(new ImageStore(root).ListImages());
        PullAssert.NoLeftovers(root);
    }

    [Fact]
    public async Task TwoProcessesPullingOneImageDownloadItOnce()
    {
        var img = BusyboxImage.Get();
        using var registry = new FakeRegistry(img.Layout) { BytesPerSecond = 2_000_000 };
        registry.Slow[img.LayerDigest] = true; // ~0.5 s, so the two pulls overlap
        using var dir = new TempDir();
        var args = new[] { "--root", dir.Path, "pull", $"{registry.Host}/busybox" };
        using var a = TestPaths.Start(TestPaths.Tinyort, args);
        using var b = TestPaths.Start(TestPaths.Tinyort, args);
        var outs = new[] { a, b }.Select(p => (p, o: p.StandardOutput.ReadToEndAsync(), e: p.StandardError.ReadToEndAsync())).ToArray();
        foreach (var (p, o, e) in outs)
        {
            Assert.True(p.WaitForExit(60_000), "pull did not finish");
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, await e);
            Assert.Contains(img.ManifestDigest, await o);
        }
        Assert.Equal(1, registry.BlobGets[img.LayerDigest]);
        var root = new RuntimeRoot(dir.Path);
        PullAssert.BusyboxStored(root, img, Assert.Single(new ImageStore(root).ListImages()));
    }

    [Fact]
    public async Task PullKilledMidwayResumesAndLeavesNoPartialState()
    {
        var img = BusyboxImage.Get();
        using var registry = new FakeRegistry(img.Layout) { BytesPerSecond = 100_000 };
        registry.Slow[img.LayerDigest] = true; // ~10 s for the 1 MB layer
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var partial = Path.Combine(root.Tmp, img.LayerDigest[7..] + ".partial");
        using (var p = TestPaths.Start(TestPaths.Tinyort, ["--root", dir.Path, "pull", $"{registry.Host}/busybox"]))
        {
            try
            {
                var sw = Stopwatch.StartNew();
                while (!(File.Exists(partial) && new FileInfo(partial).Length > 150_000))
                {
                    if (p.HasExited) Assert.Fail("pull ended before it could be killed: " + p.StandardError.ReadToEnd());
                    Assert.True(sw.ElapsedMilliseconds < 30_000, "no partial download appeared");
                    await Task.Delay(20);
                }
            }
            finally
            {
                p.Kill(); // SIGKILL
                p.WaitForExit();
            }
        }
        var killedAt = new FileInfo(partial).Length;
        Assert.True(killedAt < new FileInfo(img.BlobPath(img.LayerDigest)).Length);
        Assert.Empty(new ImageStore(root).ListImages());

        registry.Slow.Clear();
        var rec = await new Puller(new ImageStore(root)).PullAsync(ImageReference.Parse($"{registry.Host}/busybox"));
        PullAssert.BusyboxStored(root, img, rec);
        // The second attempt resumed where the first stopped.
        Assert.Contains(registry.Ranges, r => r.Digest == img.LayerDigest && r.From == killedAt);
        Assert.Equal(2, registry.BlobGets[img.LayerDigest]);
    }

    [Fact]
    public async Task StalledDownloadFailsClearlyAndResumes()
    {
        var img = BusyboxImage.Get();
        using var registry = new FakeRegistry(img.Layout);
        registry.Stalled[img.LayerDigest] = true;
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        // 3 s, not 1: the suite runs classes in parallel on 2 cores, and a loaded machine can take a second to answer.
        var options = new PullOptions { StallTimeout = TimeSpan.FromSeconds(3) };
        var e = await Assert.ThrowsAsync<RtException>(() => new Puller(new ImageStore(root)).PullAsync(ImageReference.Parse($"{registry.Host}/busybox"), options));
        Assert.Contains($"blob {img.LayerDigest}: no data for 3 s", e.Message);
        Assert.Empty(new ImageStore(root).ListImages());
        var partial = new FileInfo(Path.Combine(root.Tmp, img.LayerDigest[7..] + ".partial"));
        Assert.True(partial.Exists && partial.Length > 0);

        registry.Stalled.Clear();
        var rec = await new Puller(new ImageStore(root)).PullAsync(ImageReference.Parse($"{registry.Host}/busybox"), options);
        PullAssert.BusyboxStored(root, img, rec);
        Assert.Contains(registry.Ranges, r => r.Digest == img.LayerDigest && r.From == partial.Length);
    }

    [Fact]
    public async Task StaleUnpackDirsAndTempFilesAreCollected()
    {
        var img = BusyboxImage.Get();
        using var registry = new FakeRegistry(img.Layout);
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var store = new ImageStore(root);
        store.EnsureLayout();
        // Leftovers of a killed process: an unpack temp dir for the layer we will pull, one for an unknown layer,
        // a partial download, an unreferenced blob.
        var staleForOurs = Path.Combine(root.Layers, "." + img.DiffId[7..] + ".partial-1234");
        Directory.CreateDirectory(Path.Combine(staleForOurs, "bin"));
        var staleOther = Path.Combine(root.Layers, "." + new string('a', 64) + ".partial-99");
        Directory.CreateDirectory(Path.Combine(staleOther, "ro"));
        // A name that is not UTF-8 and a read-only directory: gc must still remove them.
        TestPaths.Check("bash", "-c", $"touch '{staleOther}'/$'\\xff\\xfe' && chmod 0555 '{staleOther}/ro'");
        File.WriteAllText(Path.Combine(root.Tmp, new string('b', 64) + ".partial"), "x");
        var orphan = "orphan"u8.ToArray();
        store.WriteBlob(orphan, Digest.Compute(orphan));

        var rec = await new Puller(store).PullAsync(ImageReference.Parse($"{registry.Host}/busybox"));
        Assert.False(Directory.Exists(staleForOurs)); // the pull removed its own layer's stale temp under the layer lock
        var gc = await new ImageGc(store).CollectAsync();
        Assert.Equal(1, gc.Blobs);
        Assert.False(Directory.Exists(staleOther));
        Assert.False(store.HasBlob(Digest.Compute(orphan)));
        PullAssert.BusyboxStored(root, img, rec);

        // rmi → gc removes everything of the image.
        Assert.Single(await store.RemoveImagesAsync(rec.Name));
        gc = await new ImageGc(store).CollectAsync();
        Assert.Equal(3, gc.Blobs);
        Assert.Equal(1, gc.Layers);
        Assert.Empty(Directory.EnumerateFileSystemEntries(root.Blobs));
        Assert.Empty(Directory.EnumerateFileSystemEntries(root.Layers));
    }
}
