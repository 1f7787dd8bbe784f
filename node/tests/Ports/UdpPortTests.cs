using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tinyo.Api.Statefile;
using Tinyo.Node.Ports;

namespace Tinyo.Node.Tests.Ports;

/// <summary>UDP publishing against an echo server whose socket lives in a network namespace of its own.</summary>
public sealed class UdpPortTests : IAsyncLifetime
{
    private Process ns = null!;
    private Socket server = null!;
    private Task echo = Task.CompletedTask;
    private readonly PortPublisher publisher = new(_ => { }) { UdpIdleTimeout = TimeSpan.FromMilliseconds(1500) };

    public async Task InitializeAsync()
    {
        var psi = new ProcessStartInfo("unshare") { UseShellExecute = false };
        foreach (var a in (string[])["--net", "sh", "-c", "ip link set lo up && exec sleep 600"]) psi.ArgumentList.Add(a);
        ns = Process.Start(psi)!;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (File.ReadAllText($"/proc/{ns.Id}/comm").Trim() != "sleep")
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("namespace not ready");
            await Task.Delay(10);
        }
        server = await NetnsSockets.CreateUdpAsync(ns.Id);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        echo = Task.Run(async () =>
        {
            var buf = new byte[65536];
            while (true)
            {
                SocketReceiveFromResult r;
                try { r = await server.ReceiveFromAsync(buf, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0)); }
                catch (Exception) { return; }
                var reply = Encoding.ASCII.GetBytes("echo:" + Encoding.ASCII.GetString(buf, 0, r.ReceivedBytes) + " from " + r.RemoteEndPoint);
                await server.SendToAsync(reply, SocketFlags.None, r.RemoteEndPoint);
            }
        });
    }

    public async Task DisposeAsync()
    {
        publisher.Dispose();
        server.Dispose();
        await echo;
        ns.Kill();
        ns.WaitForExit();
        ns.Dispose();
    }

    private int ServerPort => ((IPEndPoint)server.LocalEndPoint!).Port;

    private static int FreeUdpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Any, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private static async Task<string> AskAsync(Socket client, int port, string text)
    {
        await client.SendToAsync(Encoding.ASCII.GetBytes(text), SocketFlags.None, new IPEndPoint(IPAddress.Loopback, port));
        var buf = new byte[2048];
        using var cts = new CancellationTokenSource(5000);
        int n = await client.ReceiveAsync(buf, SocketFlags.None, cts.Token);
        return Encoding.ASCII.GetString(buf, 0, n);
    }

    [Fact]
    public async Task Datagrams_go_both_ways_with_a_session_per_client()
    {
        int host = FreeUdpPort();
        using var h = publisher.Publish("dns", new PortSpec { Host = host, Container = ServerPort, Protocol = "udp" }, () => [ns.Id]);
        using var a = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        using var b = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        a.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        b.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var ra = await AskAsync(a, host, "one");
        var rb = await AskAsync(b, host, "two");
        Assert.StartsWith("echo:one from 127.0.0.1:", ra);
        Assert.StartsWith("echo:two from 127.0.0.1:", rb);
        // Seen from the container, each client is its own socket (in the container's namespace), kept across datagrams.
        Assert.NotEqual(ra["echo:one".Length..], rb["echo:two".Length..]);
        Assert.Equal(ra["echo:one".Length..], (await AskAsync(a, host, "one"))["echo:one".Length..]);
        Assert.InRange(publisher.Connections(host, udp: true), 1, 2); // 1.5 s idle expiry may have closed one on a slow machine
        Assert.Equal("dns", publisher.Ports[$"{host}/udp"]);
        // Idle sessions expire; a returning client simply gets a new one (a new source port in the container).
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (publisher.Connections(host, udp: true) > 0 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(0, publisher.Connections(host, udp: true));
        Assert.StartsWith("echo:three from 127.0.0.1:", await AskAsync(a, host, "three"));
        Assert.Equal(1, publisher.Connections(host, udp: true));
    }

    [Fact]
    public async Task Udp_port_in_use_and_dispose_frees_it()
    {
        using var foreign = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        foreign.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int taken = ((IPEndPoint)foreign.LocalEndPoint!).Port;
        var e = Assert.Throws<PortInUseException>(() => publisher.Check("dns", [new PortSpec { Host = taken, Container = 53, Protocol = "udp" }]));
        Assert.Equal($"port {taken}/udp is already in use by another process on this host", e.Message);
        // TCP and UDP of the same number are different ports.
        publisher.Check("dns", [new PortSpec { Host = taken, Container = 53 }]);

        int host = FreeUdpPort();
        var h = publisher.Publish("dns", new PortSpec { Host = host, Container = ServerPort, Protocol = "udp" }, () => [ns.Id]);
        e = Assert.Throws<PortInUseException>(() => publisher.Check("web", [new PortSpec { Host = host, Container = 53, Protocol = "udp" }]));
        Assert.Equal($"port {host}/udp is already in use by app dns", e.Message);
        using (var c = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
            Assert.StartsWith("echo:x", await AskAsync(c, host, "x"));
        h.Dispose();
        using var again = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        again.Bind(new IPEndPoint(IPAddress.Any, host));
    }
}
