using System.IO.Compression;
using System.Text.Json;
using Tinyo.Rt.Tests.Fixtures;
using Tinyo.Rt.Tests.RunImage;
using Tinyo.Rt.Tests.Runtime;

namespace Tinyo.Rt.Tests.Images;

/// <summary>
/// An image made by a tool nobody here wrote: Debian's umoci (0.4.7) builds it in the test (init, new, insert,
/// config), skopeo pushes it to the loopback docker-registry, and the tinyort binary pulls and runs it. umoci 0.4.7
/// never closes its tar writer, so each layer stops right after its last entry's data (no padding to 512 bytes, no
/// end-of-archive blocks); podman accepts such layers and so must tinyort.
/// </summary>
[Collection("containers")]
public sealed class UmociImageTests
{
    private const string Umoci = "/usr/bin/umoci";
    private const string Page = "<h1>made by umoci</h1>\n";

    [SkippableFact]
    public void AnImagePackedByUmociIsPulledAndRuns()
    {
        Skip.IfNot(File.Exists(Umoci), "umoci is not installed (make deps installs it)");
        using var work = new TempDir("tinyo-umoci-");
        var layout = Path.Combine(work.Path, "img");
        var www = Path.Combine(work.Path, "src", "www");
        Directory.CreateDirectory(www);
        File.WriteAllText(Path.Combine(www, "index.html"), Page);
        TestPaths.Check(Umoci, "init", "--layout", layout);
        TestPaths.Check(Umoci, "new", "--image", layout + ":web");
        TestPaths.Check(Umoci, "insert", "--image", layout + ":web", TestBundle.Busybox, "/bin/busybox");
        TestPaths.Check(Umoci, "insert", "--image", layout + ":web", www, "/www");
        TestPaths.Check(Umoci, "config", "--image", layout + ":web",
            "--config.cmd", "/bin/busybox", "--config.cmd", "cat", "--config.cmd", "/www/index.html");
        // The case this test exists for: the top layer (www/, www/index.html) ends inside its last block.
        var top = TopLayerTar(layout);
        Assert.True(top.Length % 512 != 0,
            $"umoci's layer is {top.Length} bytes, a whole number of tar blocks: this umoci pads its layers, so the test no longer covers an unpadded end");

        using var registry = new TestRegistry();
        registry.Push(layout, "web", "umoci/web:latest");
        var image = $"{registry.Host}/umoci/web:latest";
        var r = new ImageRoot();
        try
        {
            var (code, o, e) = r.Cli("pull", image);
            Assert.True(code == 0, $"pull: {o}{e}");
            (code, o, e) = r.Cli("run", "--rm", "--network", "none", image);
            Assert.True(code == 0, $"run: {o}{e}");
            Assert.Equal(Page, o);
            r.AssertNoContainers();
        }
        finally { r.Dispose(); }
    }

    // The uncompressed bytes of the last layer of the layout's only manifest.
    private static byte[] TopLayerTar(string layout)
    {
        string Blob(string digest) => Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]);
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(layout, "index.json")));
        var manifestDigest = index.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString()!;
        using var manifest = JsonDocument.Parse(File.ReadAllBytes(Blob(manifestDigest)));
        var layers = manifest.RootElement.GetProperty("layers");
        var layer = layers[layers.GetArrayLength() - 1];
        using var gz = new GZipStream(File.OpenRead(Blob(layer.GetProperty("digest").GetString()!)), CompressionMode.Decompress);
        var tar = new MemoryStream();
        gz.CopyTo(tar);
        return tar.ToArray();
    }
}
