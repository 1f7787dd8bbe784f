using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Tests.Cluster;

/// <summary>TLS and mutual TLS on the client and peer ports, with a CA made by the test.</summary>
[Collection("cluster")]
public class TlsTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static string S(byte[] b) => Encoding.UTF8.GetString(b);

    private static string[] MemberFlags(TestPki pki, (string Cert, string Key) member, bool clientCertAuth) =>
    [
        "--cert-file", member.Cert, "--key-file", member.Key, "--trusted-ca-file", pki.CaFile,
        .. clientCertAuth ? new[] { "--client-cert-auth" } : [],
        "--peer-cert-file", member.Cert, "--peer-key-file", member.Key, "--peer-trusted-ca-file", pki.CaFile,
        "--peer-client-cert-auth",
    ];

    private static KvClient Client(Member m, KvClientTls? tls) => new(new KvClientOptions
    {
        Endpoints = [Endpoints.Parse(m.ClientAddress)],
        Token = TestCluster.Token,
        Tls = tls,
        RequestTimeout = TimeSpan.FromSeconds(10),
    });

    [Fact]
    public async Task ThreeMembersOverMutualTlsRefuseClientsWithoutAValidCertificate()
    {
        using var pki = new TestPki();
        using var other = new TestPki("another CA");
        var member = pki.Issue("member");
        var user = pki.Issue("user");
        var stranger = other.Issue("stranger");
        var good = KvClientTls.Load(pki.CaFile, user.Cert, user.Key);
        await using var cluster = await TestCluster.StartAsync(3, good, MemberFlags(pki, member, clientCertAuth: true));

        // Writes replicate over TLS between members; each member serves them over TLS.
        var client = cluster.Client();
        await client.PutAsync(B("secret"), B("over tls"));
        foreach (var m in cluster.Members)
        {
            await using var c = Client(m, good);
            Assert.Equal("over tls", S((await c.GetAsync(B("secret")))!.Value));
        }
        var target = cluster.Members[1];

        // TLS but no client certificate: refused with a message that says why.
        await using (var noCert = Client(target, KvClientTls.Load(pki.CaFile, null, null)))
        {
            var e = await Assert.ThrowsAsync<KvServerException>(() => noCert.GetAsync(B("secret")));
            Assert.Equal(ErrorCode.Unauthenticated, e.Code);
            Assert.Contains("no certificate presented", e.Message);
        }

        // A client certificate signed by another CA: refused.
        await using (var wrongCert = Client(target, KvClientTls.Load(pki.CaFile, stranger.Cert, stranger.Key)))
        {
            var e = await Assert.ThrowsAsync<KvServerException>(() => wrongCert.GetAsync(B("secret")));
            Assert.Equal(ErrorCode.Unauthenticated, e.Code);
            Assert.Contains("not signed by the trusted CA", e.Message);
        }

        // A client that trusts another CA refuses the member's certificate itself, at once (no retries).
        await using (var wrongCa = Client(target, KvClientTls.Load(other.CaFile, user.Cert, user.Key)))
        {
            var e = await Assert.ThrowsAsync<KvTlsException>(() => wrongCa.GetAsync(B("secret")));
            Assert.Contains("not trusted", e.Message);
        }

        // A plain-text client is told to use TLS, promptly (no hang until a timeout).
        var watch = Stopwatch.StartNew();
        await using (var plain = Client(target, null))
        {
            var e = await Assert.ThrowsAsync<KvServerException>(() => plain.GetAsync(B("secret")));
            Assert.Equal(ErrorCode.Unauthenticated, e.Code);
            Assert.Contains("TLS connections only", e.Message);
        }
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"plain-text refusal took {watch.Elapsed}");

        // The peer port refuses a plain-text peer even with the right token.
        using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await s.ConnectAsync(Endpoints.Parse(target.PeerAddress));
            var t = B(TestCluster.Token);
            await s.SendAsync((byte[])[.. "TKVPEER1"u8.ToArray(), (byte)(t.Length >> 8), (byte)t.Length, .. t]);
            var buf = new byte[16];
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(8));
            int n;
            try
            {
                n = await s.ReceiveAsync(buf, cts.Token);
            }
            catch (SocketException)
            {
                n = 0;
            }
            Assert.Equal(0, n);
        }

        // The peer port refuses a TLS peer without a certificate (peer-client-cert-auth).
        using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await s.ConnectAsync(Endpoints.Parse(target.PeerAddress));
            await using var ssl = new SslStream(new NetworkStream(s), false, (_, _, _, _) => true);
            await ssl.AuthenticateAsClientAsync("127.0.0.1");
            var t = B(TestCluster.Token);
            await ssl.WriteAsync((byte[])[.. "TKVPEER1"u8.ToArray(), (byte)(t.Length >> 8), (byte)t.Length, .. t]);
            var buf = new byte[1];
            int n;
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(8));
                n = await ssl.ReadAsync(buf, cts.Token);
            }
            catch (IOException)
            {
                n = 0;
            }
            Assert.Equal(0, n);
        }

        // The CLI speaks TLS with --cacert --cert --key, and reports a refusal in one line.
        var endpoint = target.ClientAddress;
        var ok = await Binary.RunAsync(["--endpoints", endpoint, "--token", TestCluster.Token, "--cacert", pki.CaFile,
            "--cert", user.Cert, "--key", user.Key, "get", "secret"]);
        Assert.True(ok.Code == 0, ok.Err);
        Assert.Contains("over tls", ok.Out);
        var refused = await Binary.RunAsync(["--endpoints", endpoint, "--token", TestCluster.Token, "--cacert", pki.CaFile, "get", "secret"]);
        Assert.Equal(1, refused.Code);
        Assert.Contains("client certificate refused", refused.Err);
        Assert.DoesNotContain("   at ", refused.Err);

        // The cluster still works after all the refusals.
        await client.PutAsync(B("after"), B("refusals"));
    }

    [Fact]
    public async Task TlsWithoutClientCertAuthOnlyEncryptsAndBadFlagsAreClearErrors()
    {
        using var pki = new TestPki();
        var member = pki.Issue("member");
        var caOnly = KvClientTls.Load(pki.CaFile, null, null);
        await using var cluster = await TestCluster.StartAsync(1, caOnly, MemberFlags(pki, member, clientCertAuth: false));
        var client = cluster.Client();
        await client.PutAsync(B("k"), B("v"));
        Assert.Equal("v", S((await client.GetAsync(B("k")))!.Value));

        // A TLS client dialling a plain-text port fails at once with a hint, not after the request timeout.
        await using var plainCluster = await TestCluster.StartAsync(1);
        await using (var tlsToPlain = Client(plainCluster.Members[0], caOnly))
        {
            var e = await Assert.ThrowsAsync<KvTlsException>(() => tlsToPlain.GetAsync(B("k")));
            Assert.Contains("is the member serving TLS", e.Message);
        }

        var dir = Path.Combine(Path.GetTempPath(), "tinyokv-badflags-" + Guid.NewGuid().ToString("N"));
        try
        {
            string[] serve = ["serve", "--data-dir", dir, "--token", "t", "--listen-peer", $"127.0.0.1:{TestCluster.FreePort()}",
                "--listen-client", $"127.0.0.1:{TestCluster.FreePort()}", "--bootstrap"];
            var r = await Binary.RunAsync([.. serve, "--cert-file", member.Cert, "--key-file", member.Key, "--client-cert-auth"]);
            Assert.Equal(1, r.Code);
            Assert.Contains("--client-cert-auth needs --trusted-ca-file", r.Err);
            r = await Binary.RunAsync([.. serve, "--cert-file", member.Cert]);
            Assert.Equal(1, r.Code);
            Assert.Contains("--cert-file and --key-file go together", r.Err);
            r = await Binary.RunAsync([.. serve, "--cert-file", member.Cert, "--key-file", "/nonexistent/key.pem"]);
            Assert.Equal(1, r.Code);
            Assert.Contains("cannot load certificate", r.Err);
            r = await Binary.RunAsync([.. serve, "--cert-file", member.Cert, "--key-file", member.Key]);
            Assert.Equal(1, r.Code);
            Assert.Contains("give its CA with --trusted-ca-file", r.Err);
            r = await Binary.RunAsync([.. serve, "--peer-cert-file", member.Cert, "--peer-key-file", member.Key]);
            Assert.Equal(1, r.Code);
            Assert.Contains("--peer-trusted-ca-file", r.Err);
            Assert.False(Directory.Exists(dir), "a refused start must not create the data dir");
            r = await Binary.RunAsync(["--endpoints", cluster.Members[0].ClientAddress, "--token", "t", "--cacert", "/nonexistent/ca.pem", "get", "k"]);
            Assert.Equal(1, r.Code);
            Assert.Contains("cannot read CA file", r.Err);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
