using System.Net;
using System.Net.Sockets;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// `port:` in a statefile: the node publishes the container's port on the host through its proxy (no iptables), and
/// a host port that another app or another process holds is refused at apply time with a clear error.
/// </summary>
[Collection("e2e")]
public class PortTests(MirrorRegistry registry) : IClassFixture<MirrorRegistry>
{
    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private static string Web(string name, int hostPort, string www) => $"""
        name: {name}
        container: "alpine:latest"
        command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
        port: "{hostPort}:8080"
        mounts:
          - source: "{www}"
            target: "/www"
            readonly: true
        """;

    [Fact]
    public async Task PublishedPortServesThePage_TakenPortsAreRefused_RemovalFreesThePort()
    {
        await using var n = await ReconcileNode.UpAsync(registry);
        // Not in the node's directory: it holds the node's socket, and the node refuses mount sources there.
        var www = Directory.CreateTempSubdirectory("tio-www-").FullName;
        try
        {
            await ServesAsync(n, www);
        }
        finally
        {
            Directory.Delete(www, recursive: true);
        }
    }

    private static async Task ServesAsync(ReconcileNode n, string www)
    {
        await File.WriteAllTextAsync(Path.Combine(www, "index.html"), "hello through the proxy\n");
        int port = FreePort();
        await n.ApplyAsync("web", Web("web", port, www));
        await n.WaitAppAsync("web", a => a.State == "running", "web running");

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        string? page = null;
        for (int i = 0; i < 200 && page is null; i++)
        {
            try { page = await http.GetStringAsync($"http://127.0.0.1:{port}/index.html"); }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { await Task.Delay(50); }
        }
        Assert.Equal("hello through the proxy\n", page);
        var app = await n.AppAsync("web");
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), string.Join(",", app!.Ports));

        // Another app on the same host port: refused at apply time, nothing stored.
        var file = Path.Combine(n.Node.Dir, "web2.yml");
        await File.WriteAllTextAsync(file, Web("web2", port, www));
        var r = await n.Tio("+", file);
        Assert.NotEqual(0, r.Code);
        Assert.Contains($"port {port} is already in use by app web", r.Err);
        Assert.Null(await n.AppAsync("web2"));

        // A port held by a process that is not ours.
        var foreign = new TcpListener(IPAddress.Any, 0);
        foreign.Start();
        try
        {
            int taken = ((IPEndPoint)foreign.LocalEndpoint).Port;
            await File.WriteAllTextAsync(file, Web("web2", taken, www));
            r = await n.Tio("+", file);
            Assert.NotEqual(0, r.Code);
            Assert.Contains($"port {taken} is already in use by another process on this host", r.Err);
            Assert.Null(await n.AppAsync("web2"));
        }
        finally
        {
            foreign.Stop();
        }

        // Removing the app closes the published port.
        Assert.Equal(0, (await n.Tio("-", "web")).Code);
        await ReconcileNode.WaitAsync(() => n.AllContainerIds().Count == 0, "container removed");
        await ReconcileNode.WaitAsync(() =>
        {
            try
            {
                var l = new TcpListener(IPAddress.Any, port);
                l.Start();
                l.Stop();
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }, "host port free again");
    }
}
