using Tinyo.Rt.Images;

namespace Tinyo.Rt.Tests.Images;

public class ImageReferenceTests
{
    [Theory]
    [InlineData("alpine", "docker.io/library/alpine:latest", "registry-1.docker.io")]
    [InlineData("alpine:3.20", "docker.io/library/alpine:3.20", "registry-1.docker.io")]
    [InlineData("library/alpine", "docker.io/library/alpine:latest", "registry-1.docker.io")]
    [InlineData("docker.io/alpine", "docker.io/library/alpine:latest", "registry-1.docker.io")]
    [InlineData("index.docker.io/library/alpine:edge", "docker.io/library/alpine:edge", "registry-1.docker.io")]
    [InlineData("bitnami/redis:7", "docker.io/bitnami/redis:7", "registry-1.docker.io")]
    [InlineData("ghcr.io/owner/app/sub:v1.2", "ghcr.io/owner/app/sub:v1.2", "ghcr.io")]
    [InlineData("localhost/app", "localhost/app:latest", "localhost")]
    [InlineData("127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox:latest", "127.0.0.1:5000")]
    [InlineData("[::1]:5000/a_b__c-d.e", "[::1]:5000/a_b__c-d.e:latest", "[::1]:5000")]
    public void Normalises(string text, string canonical, string registry)
    {
        var r = ImageReference.Parse(text);
        Assert.Equal(canonical, r.ToString());
        Assert.Equal(registry, r.RegistryHost);
    }

    [Fact]
    public void DigestReferences()
    {
        const string d = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        var r = ImageReference.Parse("alpine@" + d);
        Assert.Null(r.Tag);
        Assert.Equal(d, r.Digest.ToString());
        Assert.Equal(d, r.ManifestReference);
        Assert.Equal("docker.io/library/alpine@" + d, r.ToString());
        var both = ImageReference.Parse("127.0.0.1:5000/x:1.0@" + d);
        Assert.Equal("1.0", both.Tag);
        Assert.Equal(d, both.ManifestReference); // the digest wins over the tag
    }

    [Fact]
    public void LoopbackDetection()
    {
        Assert.True(ImageReference.Parse("127.0.0.1:5000/x").IsLoopback);
        Assert.True(ImageReference.Parse("localhost:5000/x").IsLoopback);
        Assert.True(ImageReference.Parse("[::1]:5000/x").IsLoopback);
        Assert.False(ImageReference.Parse("alpine").IsLoopback);
        Assert.False(ImageReference.Parse("10.0.0.1:5000/x").IsLoopback);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("Alpine", "lowercase")]
    [InlineData("alpine:", "tag")]
    [InlineData("alpine:-bad", "tag")]
    [InlineData("alpine@sha256:abc", "sha256 digest")]
    [InlineData("alpine@md5:ba7816bf8f01cfea414140de5dae2223", "sha256 digest")]
    [InlineData("../../etc/passwd", "not a valid registry host")]
    [InlineData("x/../../etc/passwd", "repository path component")]
    [InlineData("a//b", "repository path component")]
    [InlineData("ex ample", "space")]
    [InlineData("exa\nmple", "control")]
    [InlineData("bad_host.-x/app", "registry host")]
    [InlineData("reg.io/", "repository path component")]
    public void RejectsWithClearMessage(string text, string expected)
    {
        var e = Assert.Throws<RtException>(() => ImageReference.Parse(text));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void RejectsOverlongReference()
    {
        var e = Assert.Throws<RtException>(() => ImageReference.Parse(new string('a', 600)));
        Assert.Contains("longer than", e.Message);
    }
}
