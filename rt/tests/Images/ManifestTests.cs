using System.Text;
using Tinyo.Rt.Images;

namespace Tinyo.Rt.Tests.Images;

public class ManifestTests
{
    private const string D = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    private static Manifest Parse(string json, string? contentType = null) => Manifest.Parse(Encoding.UTF8.GetBytes(json), contentType, "test");

    [Fact]
    public void ParsesOciAndDockerManifests()
    {
        var oci = Parse("""{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"@D","size":1},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"@D","size":2}]}""".Replace("@D", D));
        Assert.Equal(MediaTypes.OciManifest, oci.MediaType);
        var docker = Parse("""{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"@D","size":1},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"@D","size":2}]}""".Replace("@D", D));
        Assert.Equal(MediaTypes.DockerManifest, docker.MediaType);
        var list = Parse("""{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"@D","size":3,"platform":{"os":"linux","architecture":"amd64"}}]}""".Replace("@D", D), MediaTypes.DockerManifestList + "; charset=utf-8");
        Assert.Equal(MediaTypes.DockerManifestList, list.MediaType);
    }

    [Fact]
    public void RejectsSchema1Clearly()
    {
        var e = Assert.Throws<RtException>(() => Parse("""{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}""", MediaTypes.DockerSchema1Signed));
        Assert.Contains("schema1", e.Message);
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("null", "null")]
    [InlineData("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}""", "no config")]
    [InlineData("""{"schemaVersion":2,"mediaType":"text/html"}""", "unsupported manifest media type")]
    [InlineData("""{"schemaVersion":2,"config":{"digest":"sha256:../../x","size":1},"layers":[]}""", "invalid digest")]
    [InlineData("""{"schemaVersion":2,"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":1},"layers":[]}""", "not an image config")]
    [InlineData("""{"schemaVersion":2,"config":{"digest":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":1},"layers":[{"mediaType":"application/x-evil","digest":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":1}]}""", "unsupported layer media type")]
    [InlineData("""{"schemaVersion":2,"config":[1,2,3]}""", "not valid JSON")]
    public void RejectsBadManifests(string json, string expected)
    {
        var e = Assert.Throws<RtException>(() => Parse(json));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void RejectsOversizedManifest()
    {
        var e = Assert.Throws<RtException>(() => Manifest.Parse(new byte[Manifest.MaxSize + 1], null, "big"));
        Assert.Contains("larger than", e.Message);
    }

    [Fact]
    public void ConfigNeedsValidDiffIds()
    {
        var e = Assert.Throws<RtException>(() => ImageConfig.Parse("""{"rootfs":{"type":"layers","diff_ids":["sha256:nope"]}}"""u8, "c"));
        Assert.Contains("invalid digest", e.Message);
        e = Assert.Throws<RtException>(() => ImageConfig.Parse("""{"architecture":"amd64"}"""u8, "c"));
        Assert.Contains("diff_ids", e.Message);
        var ok = ImageConfig.Parse(Encoding.UTF8.GetBytes("""{"config":{"Cmd":["sh"],"ExposedPorts":{"80/tcp":{}}},"rootfs":{"type":"layers","diff_ids":["@D"]}}""".Replace("@D", D)), "c");
        Assert.Equal(["sh"], ok.Config!.Cmd!);
        Assert.Contains("80/tcp", ok.Config.ExposedPorts!.Keys);
    }

    [Fact]
    public void PlatformSelection()
    {
        var list = new List<Descriptor>
        {
            new() { MediaType = MediaTypes.OciManifest, Digest = "a", Platform = new Platform { Os = "unknown", Architecture = "unknown" } },
            new() { MediaType = MediaTypes.OciManifest, Digest = "arm", Platform = new Platform { Os = "linux", Architecture = "arm", Variant = "v6" } },
            new() { MediaType = MediaTypes.OciManifest, Digest = "arm7", Platform = new Platform { Os = "linux", Architecture = "arm", Variant = "v7" } },
            new() { MediaType = MediaTypes.OciManifest, Digest = "amd", Platform = new Platform { Os = "linux", Architecture = "amd64" } },
            new() { MediaType = MediaTypes.OciManifest, Digest = "arm64", Platform = new Platform { Os = "linux", Architecture = "arm64", Variant = "v8" } },
        };
        Assert.Equal("amd", Platform.Select(list, Platform.Parse("linux/amd64"))!.Digest);
        Assert.Equal("arm7", Platform.Select(list, Platform.Parse("linux/arm/v7"))!.Digest);
        Assert.Equal("arm64", Platform.Select(list, Platform.Parse("linux/arm64"))!.Digest);
        Assert.Null(Platform.Select(list, Platform.Parse("linux/s390x")));
        Assert.Equal("linux/amd64", Platform.Host.ToString());
    }
}
