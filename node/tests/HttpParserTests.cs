using System.Buffers;
using System.Text;
using Tinyo.Node.Http;

namespace Tinyo.Node.Tests;

public class HttpParserTests
{
    private static readonly HttpLimits Limits = new() { MaxHeaderBytes = 1024, MaxHeaders = 8, MaxBodyBytes = 100 };

    private static HttpRequest? Parse(string s, out long consumed)
    {
        HttpParser.TryParseHead(new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(s)), Limits, out var r, out consumed);
        return r;
    }

    private static int Status(string s) => Assert.Throws<HttpParseException>(() => Parse(s, out _)).Status;

    [Fact]
    public void ParsesAWellFormedRequest()
    {
        var raw = "POST /v1/apps/a%20b?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nAuthorization: Bearer t\r\n\r\nhello";
        var r = Parse(raw, out var consumed)!;
        Assert.Equal(("POST", "/v1/apps/a b", "x=1", "HTTP/1.1"), (r.Method, r.Path, r.Query, r.Version));
        Assert.Equal("Bearer t", r.Headers["authorization"]);
        Assert.Equal(raw.Length - 5, consumed);
        Assert.Equal(5, HttpParser.ContentLength(r, Limits));
        Assert.True(r.KeepAlive);
    }

    [Fact]
    public void IncompleteHeadAsksForMore() => Assert.Null(Parse("GET / HTTP/1.1\r\nHost: x\r\n", out _));

    [Fact]
    public void KeepAliveFollowsVersionAndConnectionHeader()
    {
        Assert.False(Parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", out _)!.KeepAlive);
        Assert.False(Parse("GET / HTTP/1.0\r\n\r\n", out _)!.KeepAlive);
        Assert.True(Parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", out _)!.KeepAlive);
    }

    [Theory]
    [InlineData("GET\r\n\r\n", 400)]
    [InlineData("GET /\r\n\r\n", 400)]
    [InlineData(" / HTTP/1.1\r\n\r\n", 400)]
    [InlineData("G(T / HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET http://x/ HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET / HTTP/2.0\r\n\r\n", 505)]
    [InlineData("GET / FTP/1.0\r\n\r\n", 400)]
    [InlineData("GET /\u00ff HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET /%zz HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET /a%00b HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\n: empty-name\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nA: x\r\n folded\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nA: x\ny\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nA: \u0001\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nA: \0\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501)]
    [InlineData("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nh1: 1\r\nh2: 1\r\nh3: 1\r\nh4: 1\r\nh5: 1\r\nh6: 1\r\nh7: 1\r\nh8: 1\r\nh9: 1\r\n\r\n", 431)]
    public void MalformedHeadsAreRefused(string raw, int status) => Assert.Equal(status, Status(raw));

    [Fact]
    public void OversizedHeadIsRefusedEvenIncomplete()
    {
        Assert.Equal(431, Status("GET / HTTP/1.1\r\nA: " + new string('x', 2000)));
        Assert.Equal(431, Status("GET / HTTP/1.1\r\nA: " + new string('x', 2000) + "\r\n\r\n"));
    }

    [Theory]
    [InlineData("-1", 400)]
    [InlineData("1e3", 400)]
    [InlineData("", 400)]
    [InlineData("99999999999999999999", 400)]
    [InlineData("101", 413)]
    public void BadContentLength(string value, int status)
    {
        var r = Parse($"POST / HTTP/1.1\r\nContent-Length: {value}\r\n\r\n", out _)!;
        Assert.Equal(status, Assert.Throws<HttpParseException>(() => HttpParser.ContentLength(r, Limits)).Status);
    }

    [Fact]
    public void RandomBytesNeverThrowAnythingElse()
    {
        var rng = new Random(7);
        for (var i = 0; i < 5000; i++)
        {
            var b = new byte[rng.Next(20, 200)];
            rng.NextBytes(b);
            if (i % 2 == 0) Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n").CopyTo(b, 0);
            var bytes = b.Concat("\r\n\r\n"u8.ToArray()).ToArray();
            try
            {
                if (HttpParser.TryParseHead(new ReadOnlySequence<byte>(bytes), Limits, out var r, out _)) HttpParser.ContentLength(r!, Limits);
            }
            catch (HttpParseException)
            {
            }
        }
    }
}
