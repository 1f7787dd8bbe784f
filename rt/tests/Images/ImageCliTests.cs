using System.Text.Json;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Rt.Tests.Images;

/// <summary>The image verbs through the tinyort binary ($TINYO_BIN/tinyort when set, else the JIT build).</summary>
public class ImageCliTests
{
    private static (int Code, string Out, string Err) Tinyort(params string[] args) => TestPaths.Run(TestPaths.Tinyort, args);

    [Fact]
    public void PullImagesInspectRmiGc()
    {
        var img = BusyboxImage.Get();
        using var registry = new TestRegistry();
        registry.Push(img.Layout, "latest", "busybox:1.35");
        using var dir = new TempDir();
        var name = $"{registry.Host}/busybox:1.35";

        var (code, stdout, stderr) = Tinyort("--root", dir.Path, "pull", name);
        Assert.True(code == 0, stderr);
        Assert.Equal($"{name} {img.ManifestDigest}", stdout.Trim());
        Assert.Equal("", stderr); // no TTY: no progress display

        (code, stdout, stderr) = Tinyort("--root", dir.Path, "images");
        Assert.True(code == 0, stderr);
        Assert.Contains($"{registry.Host}/busybox", stdout);
        Assert.Contains("1.35", stdout);
        Assert.Contains(img.ConfigDigest[7..19], stdout);

        (code, stdout, stderr) = Tinyort("--root", dir.Path, "images", "-o", "json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            var e = Assert.Single(doc.RootElement.EnumerateArray().ToList());
            Assert.Equal(name, e.GetProperty("Name").GetString());
            Assert.Equal("1.35", e.GetProperty("Tag").GetString());
            Assert.Equal(img.ConfigDigest, e.GetProperty("Id").GetString());
            Assert.Equal(img.ManifestDigest, e.GetProperty("Digest").GetString());
        }

        // By name and by short id; TINYO_ROOT instead of --root.
        foreach (var what in new[] { name, img.ConfigDigest[7..19] })
        {
            (code, stdout, stderr) = TestPaths.Run(TestPaths.Tinyort, ["inspect", what], new Dictionary<string, string> { ["TINYO_ROOT"] = dir.Path });
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            var i = doc.RootElement[0];
            Assert.Equal(img.ConfigDigest, i.GetProperty("Id").GetString());
            var cfg = i.GetProperty("Config");
            Assert.Equal("sh", cfg.GetProperty("Cmd")[0].GetString());
            Assert.StartsWith("PATH=", cfg.GetProperty("Env")[0].GetString());
            Assert.Equal("/", cfg.GetProperty("WorkingDir").GetString());
            Assert.Equal(img.DiffId, i.GetProperty("Layers")[0].GetString());
        }

        (code, stdout, stderr) = Tinyort("--root", dir.Path, "rmi", name);
        Assert.True(code == 0, stderr);
        Assert.Contains($"Untagged: {name}", stdout);
        Assert.Contains("Deleted: 3 blobs, 1 layers", stdout);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(dir.Path, "images", "blobs", "sha256")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(dir.Path, "images", "layers", "sha256")));

        (code, stdout, stderr) = Tinyort("--root", dir.Path, "images", "-o", "json");
        Assert.Equal("[]", stdout.Trim());
        (code, stdout, _) = Tinyort("--root", dir.Path, "gc");
        Assert.Equal(0, code);
        Assert.StartsWith("Deleted: 0 blobs, 0 layers", stdout);
    }

    [Theory]
    [InlineData("pull", "Busybox", "invalid image reference")]
    [InlineData("pull", "127.0.0.1:1/x:latest", "cannot reach registry 127.0.0.1:1")]
    [InlineData("pull", "busybox@sha256:123", "sha256 digest")]
    [InlineData("inspect", "nosuchimage", "no such image: nosuchimage")]
    [InlineData("rmi", "nosuchimage", "no such image: nosuchimage")]
    public void BadInputIsOneLineError(string verb, string arg, string expected)
    {
        using var dir = new TempDir();
        var (code, stdout, stderr) = Tinyort("--root", dir.Path, verb, arg);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.StartsWith("tinyort: ", line);
        Assert.Contains(expected, line);
    }

    [Fact]
    public void BadOutputFormatIsRejected()
    {
        using var dir = new TempDir();
        var (code, _, stderr) = Tinyort("--root", dir.Path, "images", "-o", "yaml");
        Assert.NotEqual(0, code);
        Assert.Contains("--output must be 'table' or 'json'", stderr);
    }
}
