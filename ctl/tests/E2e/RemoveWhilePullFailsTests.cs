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
        await RemoveAsync(n, "a pull in flight");
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
        await RemoveAsync(n, "a pull backing off");
        // Gone for good: it does not come back when the back-off would have retried (2 s, then 4 s).
        await Task.Delay(3000);
        Assert.Null(await n.AppAsync("ghost"));
        AssertNothingLeft(n);
    }

    /// <summary>
    /// `tio - ghost`, timed two ways: the command itself, and until the node has let go of the app (no record, no
    /// status, nothing in the node's runtime root) — asked through the API in-process, not by starting tio each time.
    /// </summary>
    private async Task<TimeSpan> RemoveAsync(ReconcileNode n, string what)
    {
        var api = n.Node.Api(n.Node.SavedToken());
        var sw = Stopwatch.StartNew();
        var rm = await n.Tio("-", "ghost");
        var cmd = sw.Elapsed;
        Assert.True(rm.Code == 0, $"tio -: {rm.Out}{rm.Err}");
        while ((await api.AppsAsync()).Any(a => a.Name == "ghost") || n.AllContainerIds().Count > 0)
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"ghost still there 10 s after tio -\n{n.Node.Log("tinyonode")}");
            await Task.Delay(20);
        }
        var gone = sw.Elapsed;
        output.WriteLine($"{what}: tio - took {cmd.TotalMilliseconds:0} ms (a JIT tio at this load), gone {gone.TotalMilliseconds:0} ms after it started");
        foreach (var line in n.Node.Log("tinyonode").Split('\n').Where(l => l.Contains("ghost", StringComparison.Ordinal) || l.Contains("pull", StringComparison.Ordinal)))
            output.WriteLine("  node: " + line);
        Assert.True(gone - cmd < TimeSpan.FromSeconds(2), $"the node took {gone - cmd} after tio - returned");
        return gone;
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
