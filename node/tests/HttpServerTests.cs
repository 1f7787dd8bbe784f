using System.Net.Sockets;
using System.Text;
using Tinyo.Node.Http;

namespace Tinyo.Node.Tests;

public sealed class HttpServerTests : IAsyncLifetime
{
    private readonly string dir = Directory.CreateTempSubdirectory("tinyonode-http-").FullName;
    private HttpServer server = null!;
    private string Sock => Path.Combine(dir, "s.sock");

    public Task InitializeAsync()
    {
        server = new HttpServer((r, _) =>
        {
            if (r.Path == "/boom") throw new InvalidOperationException("handler bug");
            return Task.FromResult(new HttpResponse(200, Encoding.UTF8.GetBytes($"{{\"path\":\"{r.Path}\",\"len\":{r.Body.Length}}}")));
        }, new HttpLimits { MaxBodyBytes = 1000 }) { IdleTimeout = TimeSpan.FromSeconds(5) };
        server.ListenUnix(Sock);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        Directory.Delete(dir, true);
    }

    private async Task<string> Exchange(string raw, bool readToEnd = true)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(Sock));
        await s.SendAsync(Encoding.Latin1.GetBytes(raw));
        s.Shutdown(SocketShutdown.Send);
        var ms = new MemoryStream();
        var buf = new byte[4096];
        int n;
        using var cts = new CancellationTokenSource(5000);
        while ((n = await s.ReceiveAsync(buf, cts.Token)) > 0) ms.Write(buf, 0, n);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    [Fact]
    public void SocketIsOwnerOnly()
        => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, OperatingSystem.IsLinux() ? File.GetUnixFileMode(Sock) : 0);

    [Fact]
    public async Task KeepAliveServesSeveralRequestsOnOneConnection()
    {
        var r = await Exchange("GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nConnection: close\r\n\r\n");
        Assert.Equal(3, r.Split("HTTP/1.1 200 OK").Length - 1);
        Assert.Contains("{\"path\":\"/b\",\"len\":3}", r);
        Assert.Contains("Connection: close", r);
    }

    [Theory]
    [InlineData("garbage\r\n\r\n", "400 Bad Request")]
    [InlineData("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "501 Not Implemented")]
    [InlineData("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", "413 Content Too Large")]
    [InlineData("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", "400 Bad Request")]
    [InlineData("GET / HTTP/1.1\r\nHost: x", "400 Bad Request")]
    [InlineData("GET /boom HTTP/1.1\r\n\r\n", "500 Internal Server Error")]
    public async Task BadRequestsGetAJsonErrorAndTheServerLivesOn(string raw, string status)
    {
        var r = await Exchange(raw);
        Assert.StartsWith("HTTP/1.1 " + status, r);
        Assert.Contains("Content-Type: application/json", r);
        Assert.Contains("{\"error\":", r);
        Assert.Contains("200 OK", await Exchange("GET /still-alive HTTP/1.1\r\n\r\n"));
    }

    [Fact]
    public async Task OversizedHeaderIsRefused()
    {
        var r = await Exchange("GET / HTTP/1.1\r\nX: " + new string('a', 20_000) + "\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 431", r);
    }

    [Fact]
    public void SecondServerOnTheSameSocketIsRefused()
    {
        var other = new HttpServer((_, _) => Task.FromResult(new HttpResponse(200, [])));
        Assert.Throws<NodeException>(() => other.ListenUnix(Sock));
    }
}
