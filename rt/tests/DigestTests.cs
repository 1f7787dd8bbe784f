using Tinyo.Rt;
using Tinyo.Rt.Images;

namespace Tinyo.Rt.Tests;

public class DigestTests
{
    [Fact]
    public void ComputesKnownSha256()
    {
        var d = Digest.Compute("abc"u8);
        Assert.Equal("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", d.ToString());
        Assert.Equal(d, Digest.Parse(d.ToString()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("sha256:")]
    [InlineData("sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    [InlineData("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")]
    [InlineData("sha256:../../../etc/passwd000000000000000000000000000000000000000000000000")]
    public void RejectsMalformed(string text)
    {
        var e = Assert.Throws<RtException>(() => Digest.Parse(text));
        Assert.Contains("invalid digest", e.Message);
    }
}
