using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Tinyo.Node.Network;

namespace Tinyo.Node.Tests.Network;

/// <summary>The cluster DNS responder over real UDP and TCP sockets on loopback.</summary>
public sealed class DnsTests
{
    private static byte[] Query(ushort id, string name, ushort type)
    {
        var b = new List<byte> { (byte)(id >> 8), (byte)id, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
        DnsMessage.WriteName(b, name);
        b.AddRange([(byte)(type >> 8), (byte)type, 0, 1]);
        return [.. b];
    }

    private static async Task<byte[]> UdpAsk(IPEndPoint server, byte[] query)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        await s.ConnectAsync(server);
        await s.SendAsync(query);
        var buf = new byte[65535];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        int n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token);
        return buf[..n];
    }

    private static async Task<byte[]> TcpAsk(IPEndPoint server, byte[] query)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(server);
        var framed = new byte[query.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
        query.CopyTo(framed, 2);
        await s.SendAsync(framed);
        var len = new byte[2];
        await ReadExactly(s, len);
        var msg = new byte[BinaryPrimitives.ReadUInt16BigEndian(len)];
        await ReadExactly(s, msg);
        return msg;
    }

    private static async Task ReadExactly(Socket s, byte[] buf)
    {
        int got = 0;
        while (got < buf.Length)
        {
            int n = await s.ReceiveAsync(buf.AsMemory(got));
            if (n == 0) throw new IOException("closed");
            got += n;
        }
    }

    private static int Rcode(byte[] m) => m[3] & 0xF;

    /// <summary>A stand-in for the host's resolver: answers every A question with 192.0.2.7.</summary>
    private sealed class FakeUpstream : IDisposable
    {
        private readonly Socket s = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private readonly CancellationTokenSource stop = new();

        public FakeUpstream()
        {
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _ = Task.Run(async () =>
            {
                var buf = new byte[2048];
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        var r = await s.ReceiveFromAsync(buf, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), stop.Token);
                        var q = DnsMessage.ReadQuestion(buf.AsSpan(0, r.ReceivedBytes));
                        Queries++;
                        var answer = DnsResponse.Build(q, 0, [IPAddress.Parse("192.0.2.7")], 512, true);
                        await s.SendToAsync(answer, SocketFlags.None, r.RemoteEndPoint);
                    }
                    catch (Exception) when (stop.IsCancellationRequested) { return; }
                }
            });
        }

        public int Queries;

        public IPEndPoint Endpoint => (IPEndPoint)s.LocalEndPoint!;

        public void Dispose()
        {
            stop.Cancel();
            s.Dispose();
        }
    }

    private static DnsNameTable Table(int webReplicas = 1)
    {
        var t = new DnsNameTable();
        t.SetApp("db", [
            new DnsReplica(1, IPAddress.Parse("10.88.0.2"), true),
            new DnsReplica(2, IPAddress.Parse("10.88.0.3"), true),
            new DnsReplica(3, IPAddress.Parse("10.88.0.4"), false),
        ]);
        t.SetApp("web", Enumerable.Range(1, webReplicas).Select(i => new DnsReplica(i, IPAddress.Parse($"10.88.1.{i}"), true)).ToList());
        return t;
    }

    [Fact]
    public async Task Cluster_names_round_robin_replica_names_nodata_nxdomain_forwarding_and_refused()
    {
        using var upstream = new FakeUpstream();
        await using var dns = new DnsServer(Table(), new DnsServerOptions { Upstreams = [upstream.Endpoint] });
        dns.Start(new IPEndPoint(IPAddress.Loopback, 0));
        var at = dns.UdpEndpoint!;

        // The app name: its healthy replicas only, the first address rotating between queries.
        var firsts = new HashSet<string>();
        for (ushort i = 0; i < 4; i++)
        {
            var m = await UdpAsk(at, Query((ushort)(100 + i), "DB", DnsMessage.TypeA));
            var (q, addrs) = DnsMessage.ReadAll(m);
            Assert.Equal(100 + i, q.Id);
            Assert.Equal("DB", q.Name); // the case as asked
            Assert.Equal(0, Rcode(m));
            Assert.True((m[2] & 0x04) != 0, "authoritative");
            Assert.Equal(["10.88.0.2", "10.88.0.3"], addrs.Select(a => a.ToString()).Order());
            firsts.Add(addrs[0].ToString());
        }
        Assert.Equal(2, firsts.Count);
        // One replica by name, even an unhealthy one.
        Assert.Equal([IPAddress.Parse("10.88.0.4")], DnsMessage.ReadAll(await UdpAsk(at, Query(1, "db-3", DnsMessage.TypeA))).Addresses);
        // A known name, another type: NOERROR without records; an unknown single label: NXDOMAIN, not forwarded.
        var aaaa = await UdpAsk(at, Query(2, "db", DnsMessage.TypeAaaa));
        Assert.Equal(0, Rcode(aaaa));
        Assert.Empty(DnsMessage.ReadAll(aaaa).Addresses);
        Assert.Equal(DnsMessage.NxDomain, Rcode(await UdpAsk(at, Query(3, "nope", DnsMessage.TypeA))));
        Assert.Equal(DnsMessage.NxDomain, Rcode(await UdpAsk(at, Query(3, "db-9", DnsMessage.TypeA))));
        Assert.Equal(0, upstream.Queries);
        // Other names go to the host's resolver and come back as it answered.
        var fwd = await UdpAsk(at, Query(4, "www.example.org", DnsMessage.TypeA));
        Assert.Equal(4, DnsMessage.ReadAll(fwd).Question.Id);
        Assert.Equal([IPAddress.Parse("192.0.2.7")], DnsMessage.ReadAll(fwd).Addresses);
        Assert.Equal(1, upstream.Queries);
        // Not class IN: REFUSED; another opcode: NOTIMP; a malformed question: FORMERR.
        var chaos = Query(5, "db", DnsMessage.TypeA);
        chaos[^1] = 3;
        Assert.Equal(DnsMessage.Refused, Rcode(await UdpAsk(at, chaos)));
        var status = Query(6, "db", DnsMessage.TypeA);
        status[2] |= 2 << 3;
        Assert.Equal(DnsMessage.NotImp, Rcode(await UdpAsk(at, status)));
        byte[] loop = [0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1];
        var formerr = await UdpAsk(at, loop);
        Assert.Equal(DnsMessage.FormErr, Rcode(formerr));
        Assert.Equal(7, formerr[1]);
        // Updates of the table show at once; a removed app is gone.
        var table = Table();
        await using var dns2 = new DnsServer(table);
        dns2.Start(new IPEndPoint(IPAddress.Loopback, 0));
        table.RemoveApp("db");
        Assert.Equal(DnsMessage.NxDomain, Rcode(await UdpAsk(dns2.UdpEndpoint!, Query(8, "db", DnsMessage.TypeA))));
        // No resolvers: outside names are REFUSED (RA clear).
        var refused = await UdpAsk(dns2.UdpEndpoint!, Query(9, "example.org", DnsMessage.TypeA));
        Assert.Equal(DnsMessage.Refused, Rcode(refused));
        Assert.Equal(0, refused[3] & 0x80);
    }

    [Fact]
    public async Task A_silent_resolver_gives_servfail_after_the_timeout_and_big_answers_go_over_tcp()
    {
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0)); // bound, never answers
        await using var dns = new DnsServer(Table(100), new DnsServerOptions
        {
            Upstreams = [(IPEndPoint)silent.LocalEndPoint!], UpstreamTimeout = TimeSpan.FromMilliseconds(300),
        });
        dns.Start(new IPEndPoint(IPAddress.Loopback, 0));
        var sw = Stopwatch.StartNew();
        Assert.Equal(DnsMessage.ServFail, Rcode(await UdpAsk(dns.UdpEndpoint!, Query(1, "example.org", DnsMessage.TypeA))));
        Assert.InRange(sw.ElapsedMilliseconds, 250, 5000);

        // 100 replicas do not fit in 512 bytes: UDP truncates (TC), TCP gives them all.
        var udp = await UdpAsk(dns.UdpEndpoint!, Query(2, "web", DnsMessage.TypeA));
        Assert.True((udp[2] & 0x02) != 0, "TC");
        Assert.True(udp.Length <= 512);
        Assert.InRange(DnsMessage.ReadAll(udp).Addresses.Count, 1, 99);
        var tcp = await TcpAsk(dns.TcpEndpoint!, Query(3, "web", DnsMessage.TypeA));
        Assert.Equal(0, tcp[2] & 0x02);
        Assert.Equal(100, DnsMessage.ReadAll(tcp).Addresses.Distinct().Count());
    }

    [SkippableFact]
    public async Task Dig_resolves_through_the_responder()
    {
        Skip.If(!File.Exists("/usr/bin/dig"), "dig (bind9-dnsutils) is not installed; make deps installs it");
        await using var dns = new DnsServer(Table());
        dns.Start(new IPEndPoint(IPAddress.Loopback, 0));
        var port = dns.UdpEndpoint!.Port;
        var psi = new ProcessStartInfo("dig", ["@127.0.0.1", "-p", port.ToString(), "db-2", "+short", "+tries=1", "+time=3"]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var o = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.Equal("10.88.0.3", o.Trim());
        psi = new ProcessStartInfo("dig", ["@127.0.0.1", "-p", port.ToString(), "db", "+tcp", "+short", "+tries=1", "+time=3"]) { RedirectStandardOutput = true };
        using var p2 = Process.Start(psi)!;
        var o2 = await p2.StandardOutput.ReadToEndAsync();
        await p2.WaitForExitAsync();
        Assert.Equal(["10.88.0.2", "10.88.0.3"], o2.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());
    }

    [Fact]
    public void The_parser_refuses_loops_forward_pointers_long_names_and_lying_lengths()
    {
        byte[] H(params byte[] rest) => [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, .. rest];
        Assert.Contains("does not point backwards", Assert.Throws<DnsFormatException>(() => DnsMessage.ReadQuestion(H(0xC0, 12, 0, 1, 0, 1))).Message);
        Assert.Contains("does not point backwards", Assert.Throws<DnsFormatException>(() => DnsMessage.ReadQuestion(H(0xC0, 40, 0, 1, 0, 1))).Message);
        Assert.Contains("past the end", Assert.Throws<DnsFormatException>(() => DnsMessage.ReadQuestion(H(5, (byte)'a'))).Message);
        Assert.Contains("label type", Assert.Throws<DnsFormatException>(() => DnsMessage.ReadQuestion(H(0x41, 0))).Message);
        var longName = new List<byte>();
        for (int i = 0; i < 5; i++) { longName.Add(63); longName.AddRange(Enumerable.Repeat((byte)'a', 63)); }
        longName.Add(0);
        Assert.Contains("longer than 255", Assert.Throws<DnsFormatException>(() => DnsMessage.ReadQuestion(H([.. longName, 0, 1, 0, 1]))).Message);
        Assert.Contains("questions", Assert.Throws<DnsFormatException>(() => DnsMessage.ReadQuestion([0, 1, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1])).Message);
        // An answer claiming more data than the message holds.
        byte[] lying = [.. H(2, (byte)'d', (byte)'b', 0, 0, 1, 0, 1), 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 200, 1, 2, 3, 4];
        lying[7] = 1;
        Assert.Contains("bytes of data", Assert.Throws<DnsFormatException>(() => DnsMessage.ReadAll(lying)).Message);
        // Odd bytes in labels are escaped, so they cannot make a dot or alias a cluster name; the round trip keeps them.
        var odd = DnsMessage.ReadQuestion(H(3, (byte)'a', (byte)'.', 0, 0, 0, 1, 0, 1));
        Assert.Equal("a\\046\\000", odd.Name);
        var back = new List<byte>();
        DnsMessage.WriteName(back, odd.Name);
        Assert.Equal([3, (byte)'a', (byte)'.', 0, 0], back);
    }
}
