using System.Net.Sockets;
using System.Text;
using Tinyo.Node.Http;

namespace Tinyo.Node.Tests;

public sealed class HttpStreamingTests : IAsyncLifetime
{
    private readonly string dir = Directory.CreateTempSubdirectory("tinyonode-stream-").FullName;
    private readonly TaskCompletionSource<bool> cancelled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private HttpServer server = null!;
    private string Sock => Path.Combine(dir, "s.sock");

    public Task InitializeAsync()
    {
        server = new HttpServer((r, _) => Task.FromResult(r.Path switch
        {
            "/two" => new HttpResponse(200, [], "text/plain")
            {
                Streamer = async (body, ct) =>
                {
                    await body.WriteAsync("first "u8.ToArray(), ct);
                    await Task.Delay(50, ct);
                    await body.WriteAsync("second"u8.ToArray(), ct);
                },
            },
            "/forever" => new HttpResponse(200, [], "text/plain")
            {
                Streamer = async (body, ct) =>
                {
                    await body.WriteAsync("x"u8.ToArray(), ct);
                    try { await Task.Delay(Timeout.Infinite, ct); }
                    catch (OperationCanceledException) { cancelled.TrySetResult(true); throw; }
                },
            },
            "/broken" => new HttpResponse(200, [], "text/plain")
            {
                Streamer = async (body, ct) =>
                {
                    await body.WriteAsync("partial"u8.ToArray(), ct);
                    throw new InvalidOperationException("streamer bug");
                },
            },
            _ => new HttpResponse(404, []),
        }));
        server.ListenUnix(Sock);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        Directory.Delete(dir, true);
    }

    private async Task<Socket> RequestAsync(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(Sock));
        await s.SendAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
        return s;
    }

    private static async Task<string> ReadToEndAsync(Socket s)
    {
        var ms = new MemoryStream();
        var buf = new byte[4096];
        int n;
        using var cts = new CancellationTokenSource(10_000);
        while ((n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token)) > 0) ms.Write(buf, 0, n);
        return Encoding.ASCII.GetString(ms.ToArray());
    }

    [Fact]
    public async Task A_streamed_answer_is_chunked_and_complete()
    {
        using var s = await RequestAsync("/two");
        var r = await ReadToEndAsync(s);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", r);
        Assert.Contains("Transfer-Encoding: chunked\r\n", r);
        Assert.DoesNotContain("Content-Length", r);
        Assert.EndsWith("\r\n\r\n6\r\nfirst \r\n6\r\nsecond\r\n0\r\n\r\n", r);
    }

    [Fact]
    public async Task A_client_that_goes_away_cancels_the_streamer()
    {
        using (var s = await RequestAsync("/forever"))
        {
            // Read until the streamer's first chunk arrived, so it is waiting when the client goes: closing after the
            // head alone raced with that first write (which then failed with EPIPE before the streamer could wait).
            var got = new StringBuilder();
            var buf = new byte[1024];
            using var cts = new CancellationTokenSource(10_000);
            while (!got.ToString().Contains("\r\n1\r\nx\r\n"))
            {
                int n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token);
                Assert.True(n > 0, "connection closed before the first chunk");
                got.Append(Encoding.ASCII.GetString(buf, 0, n));
            }
        }
        Assert.True(await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_failing_streamer_leaves_the_body_without_its_last_chunk()
    {
        using var s = await RequestAsync("/broken");
        var r = await ReadToEndAsync(s);
        Assert.Contains("7\r\npartial\r\n", r);
        Assert.DoesNotContain("0\r\n\r\n", r);
    }
}
