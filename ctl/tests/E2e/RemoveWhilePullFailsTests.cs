using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// `tio - APP` while its image cannot be pulled, through the real binaries: a registry mirror that accepts
/// connections and never answers (a pull in flight) and one that refuses them (a pull backing off). Either way the
/// removal completes promptly and nothing is left: no connection held, no pull attempted afterwards, no app record,
/// no container, name, partial blob or secrets directory.
/// </summary>
[Collection("e2e")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class RemoveWhilePullFailsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>A loopback TCP server that accepts and reads, never answers; counts connections and their closing.</summary>
    private sealed class SilentRegistry : IDisposable
    {
        private readonly TcpListener listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource stop = new();
        private int accepted, open;

        public SilentRegistry()
        {
            listener.Start();
            _ = AcceptAsync();
        }

        public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;
        public int Accepted => Volatile.Read(ref accepted);
        public int Open => Volatile.Read(ref open);

        private async Task AcceptAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                Socket s;
                try { s = await listener.AcceptSocketAsync(stop.Token); }
                catch (Exception) { return; }
                Interlocked.Increment(ref accepted);
                Interlocked.Increment(ref open);
                _ = Task.Run(async () =>
                {
                    var buf = new byte[4096];
                    try { while (await s.ReceiveAsync(buf, stop.Token) > 0) { } } // until the client closes
                    catch (Exception) { }
                    finally
                    {
                        Interlocked.Decrement(ref open);
                        s.Dispose();
                    }
                });
            }
        }

        public void Dispose()
        {
            stop.Cancel();
            listener.Stop();
        }
    }

    [Fact]
    public async Task Removing_an_app_whose_pull_hangs_is_prompt_closes_the_pull_and_leaves_nothing()
    {
        using var silent = new SilentRegistry();
        await using var n = await ReconcileNode.UpAsync($"http://127.0.0.1:{silent.Port}");
        await n.ApplyAsync("ghost", """
            name: ghost
            container: "alpine:latest"
            command: ["sleep", "1000"]
            """);
        await ReconcileNode.WaitAsync(() => silent.Accepted > 0, "the node's pull reached the registry");
        var app = await n.AppAsync("ghost");
        Assert.NotNull(app);
        Assert.NotEqual("running", app!.State);
        var sw = Stopwatch.StartNew();
        var rm = await n.Tio("-", "ghost");
        Assert.True(rm.Code == 0, $"tio -: {rm.Out}{rm.Err}");
        await WaitGoneAsync(n, "ghost");
        var took = sw.Elapsed;
        output.WriteLine($"tio - until gone from tio ls, a pull in flight: {took.TotalMilliseconds:0} ms");
        Assert.True(took < TimeSpan.FromSeconds(5), $"removal with a pull in flight took {took}");
        // The pull was cancelled: the node closed its connection, and does not come back.
        await ReconcileNode.WaitAsync(() => silent.Open == 0, "the pull's connection closed", 5_000);
        int accepted = silent.Accepted;
        await Task.Delay(3000);
        Assert.Equal(accepted, silent.Accepted);
        AssertNothingLeft(n);
    }

    [Fact]
    public async Task Removing_an_app_whose_pull_backs_off_is_prompt_and_leaves_nothing()
    {
        int refused = TioNode.FreePort(); // nothing listens there: every pull is refused at once
        await using var n = await ReconcileNode.UpAsync($"http://127.0.0.1:{refused}");
        await n.ApplyAsync("ghost", """
            name: ghost
            container: "alpine:latest"
            command: ["sleep", "1000"]
            """);
        var failed = await n.WaitAppAsync("ghost", a => a.Error is { Length: > 0 }, "the pull failed");
        output.WriteLine($"pull error shown: {failed.Error}");
        Assert.NotEqual("running", failed.State);
        var sw = Stopwatch.StartNew();
        var rm = await n.Tio("-", "ghost");
        Assert.True(rm.Code == 0, $"tio -: {rm.Out}{rm.Err}");
        await WaitGoneAsync(n, "ghost");
        var took = sw.Elapsed;
        output.WriteLine($"tio - until gone from tio ls, a pull backing off: {took.TotalMilliseconds:0} ms");
        Assert.True(took < TimeSpan.FromSeconds(5), $"removal while backing off took {took}");
        // Gone for good: it does not come back when the back-off would have retried (2 s, then 4 s).
        await Task.Delay(3000);
        Assert.Null(await n.AppAsync("ghost"));
        AssertNothingLeft(n);
    }

    private static async Task WaitGoneAsync(ReconcileNode n, string app)
    {
        var sw = Stopwatch.StartNew();
        while ((await n.AppAsync(app)) is not null)
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"{app} still listed 10 s after tio -");
            await Task.Delay(50);
        }
    }

    private static void AssertNothingLeft(ReconcileNode n)
    {
        Assert.Empty(n.AllContainerIds());
        var names = Path.Combine(n.Rt.Path, "names");
        Assert.True(!Directory.Exists(names) || Directory.GetFileSystemEntries(names).Length == 0, "a container name is left");
        if (Directory.Exists(n.Rt.Path))
        {
            var partial = Directory.EnumerateFiles(n.Rt.Path, "*", SearchOption.AllDirectories)
                .Where(f => f.Contains(".partial", StringComparison.Ordinal) || f.Contains(".tmp", StringComparison.Ordinal)).ToList();
            Assert.True(partial.Count == 0, "partial files left: " + string.Join(", ", partial));
        }
        Assert.True(!Directory.Exists(n.SecretsDir) || Directory.GetFileSystemEntries(n.SecretsDir).Length == 0, "a secrets directory is left");
    }
}
