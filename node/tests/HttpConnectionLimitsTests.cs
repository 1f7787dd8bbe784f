using System.Net;
using System.Net.Sockets;
using System.Text;
using Tinyo.Node.Http;

namespace Tinyo.Node.Tests;

/// <summary>
/// Connection limits per listener and per address, the header timeout and root's unix socket (issue 10, item 7:
/// 256 idle TCP connections made the unix socket answer 503).
/// </summary>
public sealed class HttpConnectionLimitsTests : IAsyncLifetime
{
    private readonly string dir = Directory.CreateTempSubdirectory("tinyonode-limits-").FullName;
    private readonly List<Socket> open = [];
    private HttpServer? server;

    private string Sock => Path.Combine(dir, "s.sock");

    public Task InitializeAsync() => Task.CompletedTask;

    // IAsyncLifetime, not IAsyncDisposable: xUnit 2 calls only this one, and the temp dir must go.
    public async Task DisposeAsync()
    {
        foreach (var s in open) s.Dispose();
        if (server is not null) await server.DisposeAsync();
        Directory.Delete(dir, true);
    }

    private IPEndPoint Start(HttpServer s)
    {
        server = s;
        s.ListenUnix(Sock);
        return s.ListenTcp(new IPEndPoint(IPAddress.Loopback, 0));
    }

    private static HttpServer Echo(int maxConnections = 256, int perAddress = 32, int unix = 64, double headerSeconds = 10)
        => new((r, _) => Task.FromResult(new HttpResponse(200, Encoding.UTF8.GetBytes($"{{\"peer\":\"{r.Peer}\",\"uid\":{r.PeerUid}}}"))))
        {
            MaxConnections = maxConnections,
            MaxConnectionsPerAddress = perAddress,
            MaxUnixConnections = unix,
            HeaderTimeout = TimeSpan.FromSeconds(headerSeconds),
            IdleTimeout = TimeSpan.FromSeconds(30),
        };

    private async Task<Socket> IdleTcp(IPEndPoint ep)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        open.Add(s);
        await s.ConnectAsync(ep);
        return s;
    }

    private async Task<Socket> IdleUnix()
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        open.Add(s);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(Sock));
        return s;
    }

    /// <summary>Sends a GET on a new connection and reads the answer to its end (or what came within 5 s).</summary>
    private static async Task<string> Get(Socket s)
    {
        await s.SendAsync(Encoding.ASCII.GetBytes("GET /v1/version HTTP/1.1\r\nConnection: close\r\n\r\n"));
        return await ReadAll(s);
    }

    private static async Task<string> ReadAll(Socket s, int ms = 5000)
    {
        var buf = new byte[4096];
        var all = new MemoryStream();
        using var cts = new CancellationTokenSource(ms);
        try
        {
            int n;
            while ((n = await s.ReceiveAsync(buf, cts.Token)) > 0) all.Write(buf, 0, n);
        }
        catch (OperationCanceledException)
        {
            all.Write("<still open>"u8);
        }
        catch (SocketException)
        {
        }
        return Encoding.ASCII.GetString(all.ToArray());
    }

    /// <summary>Waits until the server has counted <paramref name="n"/> more connections: the next one is refused.</summary>
    private async Task<string> WhenFull(IPEndPoint ep)
    {
        var last = "";
        for (var i = 0; i < 50 && server!.OpenConnections < open.Count; i++) await Task.Delay(100);
        Assert.Equal(open.Count, server!.OpenConnections);
        for (var i = 0; i < 50; i++)
        {
            var answer = await Get(await IdleTcp(ep));
            if (answer.Contains("503")) return answer;
            last = answer;
            await Task.Delay(100);
        }
        return "never full: " + last[(last.IndexOf("{", StringComparison.Ordinal))..] + " after " + open.Count;
    }

    [Fact]
    public async Task IdleTcpConnectionsDoNotLockOutTheUnixSocket()
    {
        var ep = Start(Echo(maxConnections: 8, perAddress: 8));
        for (var i = 0; i < 8; i++) await IdleTcp(ep);
        Assert.Contains("503 Service Unavailable", await WhenFull(ep)); // the TCP listener is full...
        var local = await Get(await IdleUnix());
        Assert.Contains("200 OK", local);                               // ...and the unix socket still answers
        Assert.Contains("\"peer\":\"unix:0\",\"uid\":0", local);         // its peer by SO_PEERCRED (tests run as root)
    }

    [Fact]
    public async Task OneAddressGetsOnlyItsShareOfTheTcpListener()
    {
        var ep = Start(Echo(maxConnections: 100, perAddress: 3));
        for (var i = 0; i < 3; i++) await IdleTcp(ep);
        Assert.Contains("too many connections", await WhenFull(ep));
        // Another address is still served (127.0.0.2 is loopback too).
        var other = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        open.Add(other);
        other.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        await other.ConnectAsync(ep);
        Assert.Contains("200 OK", await Get(other));
    }

    [Fact]
    public async Task RootIsNeverRefusedOnTheUnixSocket()
    {
        Start(Echo(unix: 2));
        for (var i = 0; i < 5; i++) await IdleUnix();
        await Task.Delay(200);
        Assert.Contains("200 OK", await Get(await IdleUnix()));
    }

    [Fact]
    public async Task SilentAndSlowClientsAreClosedAfterTheHeaderTimeout()
    {
        var ep = Start(Echo(headerSeconds: 0.5));
        var silent = await IdleTcp(ep);
        var slow = await IdleTcp(ep);
        await slow.SendAsync(Encoding.ASCII.GetBytes("GET /v1/version HTTP/1.1\r\n"));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var (a, b) = (ReadAll(silent), ReadAll(slow));
        Assert.DoesNotContain("<still open>", await a);
        Assert.DoesNotContain("<still open>", await b);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4), $"closed after {sw.Elapsed}");
        // A client that sends its request in time is served as before.
        Assert.Contains("200 OK", await Get(await IdleTcp(ep)));
    }
}
