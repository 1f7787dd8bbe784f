using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Tinyo.Api.Statefile;
using Tinyo.Node.Ports;
using Xunit.Abstractions;

namespace Tinyo.Node.Tests.Ports;

/// <summary>
/// Throughput of the proxy, splice vs copy, against an in-process source server whose listening socket lives in a
/// namespace of its own (made with <see cref="NetnsSockets"/>, so the server is as fast as the client). By default a
/// small transfer checks the byte count; <c>TINYO_MEASURE_RELAY=MiB</c> makes it a measurement (printed).
/// </summary>
public sealed class RelayThroughputTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Splice_and_copy_move_every_byte()
    {
        long mib = long.TryParse(Environment.GetEnvironmentVariable("TINYO_MEASURE_RELAY"), out var m) ? m : 32;
        long total = mib << 20;
        var psi = new ProcessStartInfo("unshare") { UseShellExecute = false };
        foreach (var a in (string[])["--net", "sh", "-c", "ip link set lo up && exec sleep 600"]) psi.ArgumentList.Add(a);
        using var ns = Process.Start(psi)!;
        try
        {
            // exec sleep happens after lo is up.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (File.ReadAllText($"/proc/{ns.Id}/comm").Trim() != "sleep")
            {
                Assert.True(DateTime.UtcNow < deadline, "namespace not ready");
                await Task.Delay(10);
            }
            using var listener = await NetnsSockets.CreateTcpAsync(ns.Id);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(16);
            int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
            using var stop = new CancellationTokenSource();
            var serving = ServeAsync(listener, total, stop.Token);

            // Baseline: a client in the same namespace, no proxy.
            var direct = await MeasureAsync(async () =>
            {
                var s = await NetnsSockets.CreateTcpAsync(ns.Id);
                await s.ConnectAsync(IPAddress.Loopback, port);
                return s;
            });
            Assert.Equal(total, direct.Bytes);
            var line = $"{mib} MiB: direct {Rate(direct)}";
            foreach (var mode in (RelayMode[])[RelayMode.Splice, RelayMode.Copy, RelayMode.Splice, RelayMode.Copy])
            {
                using var p = new PortPublisher(_ => { }) { Mode = mode };
                int host = FreePort();
                using var h = p.Publish("bench", new PortSpec { Host = host, Container = port }, () => [ns.Id]);
                var r = await MeasureAsync(async () =>
                {
                    var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    await s.ConnectAsync(IPAddress.Loopback, host);
                    return s;
                });
                Assert.Equal(total, r.Bytes);
                line += $", {mode} {Rate(r)}";
            }
            output.WriteLine(line);
            Console.WriteLine("relay throughput: " + line);
            await stop.CancelAsync();
            listener.Dispose();
            try { await serving; } catch (Exception) { }
        }
        finally
        {
            ns.Kill();
            ns.WaitForExit();
        }
    }

    private static string Rate((long Bytes, TimeSpan Time) r) => $"{r.Bytes / r.Time.TotalSeconds / (1 << 20):0} MiB/s";

    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Any, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private static async Task ServeAsync(Socket listener, long total, CancellationToken ct)
    {
        var block = new byte[1 << 20];
        new Random(1).NextBytes(block);
        while (!ct.IsCancellationRequested)
        {
            var c = await listener.AcceptAsync(ct);
            _ = Task.Run(async () =>
            {
                using (c)
                {
                    for (long left = total; left > 0;)
                    {
                        int n = await c.SendAsync(block.AsMemory(0, (int)Math.Min(block.Length, left)));
                        left -= n;
                    }
                    c.Shutdown(SocketShutdown.Send);
                }
            });
        }
    }

    private static async Task<(long Bytes, TimeSpan Time)> MeasureAsync(Func<Task<Socket>> connect)
    {
        var sw = Stopwatch.StartNew();
        using var s = await connect();
        var buf = new byte[1 << 18];
        long got = 0;
        int n;
        while ((n = await s.ReceiveAsync(buf, SocketFlags.None)) > 0) got += n;
        return (got, sw.Elapsed);
    }
}
