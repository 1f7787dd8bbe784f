using Tinyo.Rt.Images;

namespace Tinyo.Rt.Tests.Images;

public class AuthChallengeTests
{
    [Fact]
    public void ParsesDockerHubChallenge()
    {
        var c = Assert.Single(AuthChallenge.Parse(
            "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/alpine:pull\""));
        Assert.True(c.IsBearer);
        Assert.Equal("https://auth.docker.io/token", c["realm"]);
        Assert.Equal("registry.docker.io", c["service"]);
        Assert.Equal("repository:library/alpine:pull", c["scope"]);
    }

    [Fact]
    public void ParsesSeveralChallengesAndEscapes()
    {
        var cs = AuthChallenge.Parse("Basic realm=\"a \\\"quoted\\\" realm\", Bearer Realm=https://x/token, error=insufficient_scope");
        Assert.Equal(2, cs.Count);
        Assert.True(cs[0].IsBasic);
        Assert.Equal("a \"quoted\" realm", cs[0]["realm"]);
        Assert.True(cs[1].IsBearer);
        Assert.Equal("https://x/token", cs[1]["realm"]); // names are case-insensitive
        Assert.Equal("insufficient_scope", cs[1]["error"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Bearer")]
    [InlineData("Bearer realm=\"unterminated")]
    [InlineData("=====")]
    [InlineData(",,, ,")]
    [InlineData("Bearer realm=\"x\",,,,service")]
    [InlineData("Basic dXNlcjpwYXNz==")]
    [InlineData("\u0000\u00ff Bearer \"\" = , \\")]
    public void HostileHeadersNeverThrow(string header)
    {
        var cs = AuthChallenge.Parse(header);
        Assert.True(cs.Count <= 8);
    }

    [Fact]
    public void RandomInputNeverThrowsOrHangs()
    {
        var rng = new Random(42);
        const string alphabet = "Bearer Basic realm=\",\\ \t=abc:/";
        for (var i = 0; i < 20_000; i++)
        {
            var chars = new char[rng.Next(0, 64)];
            for (var j = 0; j < chars.Length; j++) chars[j] = alphabet[rng.Next(alphabet.Length)];
            AuthChallenge.Parse(new string(chars));
        }
        Assert.Empty(AuthChallenge.Parse(new string('a', 100_000) + "=x"));
    }
}
