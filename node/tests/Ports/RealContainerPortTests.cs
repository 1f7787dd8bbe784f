using System.Net;
using System.Net.Sockets;
using System.Text;
using Tinyo.Api.Statefile;
using Tinyo.Node.Ports;
using Tinyo.Rt;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Node.Tests.Ports;

/// <summary>The published port of a real runtime container: busybox httpd in its own network namespace (only lo).</summary>
public sealed class RealContainerPortTests
{
    [Fact]
    public async Task Http_from_the_host_reaches_httpd_in_a_container()
    {
        using var dir = new TempDir("tinyonode-port-");
        var root = dir.Path;
        (int, string, string) Rt(params string[] a) => TestPaths.Run(TestPaths.Tinyort, ["--root", root, .. a], timeoutMs: 60_000);
        try
        {
            var (c, o, e) = Rt("load", BusyboxImage.Get().Layout, "--name", "busybox");
            Assert.True(c == 0, o + e);
            (c, o, e) = Rt("run", "-d", "--name", "web-1", "busybox", "sh", "-c",
                "mkdir -p /www && echo 'hello from the container' > /www/index.html && exec httpd -f -p 8080 -h /www");
            Assert.True(c == 0, o + e);
            var rt = new RuntimeRoot(root);
            var id = ContainerNames.Lookup(rt, "web-1")!;
            int pid = new ContainerRuntime(rt, new RuntimeOptions()).State(id).Pid;
            Assert.True(pid > 0);

            using var publisher = new PortPublisher(_ => { });
            int host;
            using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                probe.Bind(new IPEndPoint(IPAddress.Any, 0));
                host = ((IPEndPoint)probe.LocalEndPoint!).Port;
            }
            using var h = publisher.Publish("web", new PortSpec { Host = host, Container = 8080 }, () => [pid]);
            // httpd may need a moment to listen: retry while the proxy closes on a refused upstream.
            string answer = "";
            for (int i = 0; i < 50 && !answer.Contains("hello from the container"); i++)
            {
                using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await s.ConnectAsync(IPAddress.Loopback, host);
                await s.SendAsync(Encoding.ASCII.GetBytes("GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n"));
                var ms = new MemoryStream();
                var buf = new byte[4096];
                int n;
                using var cts = new CancellationTokenSource(5000);
                while ((n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token)) > 0) ms.Write(buf, 0, n);
                answer = Encoding.ASCII.GetString(ms.ToArray());
                if (answer.Length == 0) await Task.Delay(100);
            }
            Assert.StartsWith("HTTP/1.", answer);
            Assert.Contains("200 OK", answer);
            Assert.Contains("hello from the container", answer);
        }
        finally
        {
            Rt("rm", "-f", "web-1");
        }
    }
}
