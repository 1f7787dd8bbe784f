using System.Net;
using Tinyo.Api.Cluster;
using Tinyo.Node.Api;
using Tinyo.Node.Cluster;
using Tinyo.Node.Security;
using Tinyo.Node.Store;
using Tinyo.Node.Tests.Network;

namespace Tinyo.Node.Tests.Cluster;

/// <summary>
/// The join responder against a real tinyokv: a correct join is answered with a certificate for the joiner's key
/// and a proof the joiner can check; a replayed challenge, a proof made for another TLS key (a man in the middle), a
/// wrong password, another net and a taken name are refused, and failed proofs are throttled.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class JoinServiceTests : IAsyncLifetime, IDisposable
{
    private const string Pin = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    private const string Password = "correct-horse-1";
    private readonly string dir = Directory.CreateTempSubdirectory("tinyo-join-").FullName;
    private KvProcess? kv;
    private StateStore? store;
    private JoinService? service;
    private ClusterPki? pki;

    public async Task InitializeAsync()
    {
        kv = await KvProcess.StartAsync();
        store = new StateStore(kv.Client());
        pki = new ClusterPki(Path.Combine(dir, "pki"));
        pki.CreateFirst("prod", "node-a", [IPAddress.Parse("10.99.0.1")]);
        Assert.True(await new ClusterInit(store).InitializeAsync(new Tinyo.Api.NetInfo("prod", DateTimeOffset.UtcNow),
            Passwords.Hash("admin", Password, 1000), CancellationToken.None));
        service = new JoinService(store, pki, "kv-token", new LoginThrottle(), _ => { }) { TlsPin = Pin };
    }

    public async Task DisposeAsync()
    {
        if (kv is not null) await kv.DisposeAsync();
    }

    public void Dispose() => Directory.Delete(dir, true);

    private async Task<(JoinRequest Request, byte[] Key, string ClientNonce, JoinChallenge Challenge)> Prepare(
        string password = Password, string pin = Pin, string net = "prod", string name = "node-b", string peer = "10.99.0.2")
    {
        var cn = JoinProof.Nonce();
        var ch = await service!.ChallengeAsync(new JoinChallengeRequest("admin", cn), peer, CancellationToken.None);
        var key = JoinProof.Key(password, Convert.FromBase64String(ch.Salt), ch.Iterations);
        var (k, csr) = ClusterCa.NewRequest(name);
        k.Dispose();
        var proof = JoinProof.Client(key, "admin", cn, ch.ServerNonce, pin, net, name);
        return (new JoinRequest("admin", cn, ch.ServerNonce, proof, net, name, "10.99.0.2", csr, DateTimeOffset.UtcNow, 2, 1 << 30, null), key, cn, ch);
    }

    [Fact]
    public async Task A_proven_join_gets_a_signed_certificate_and_a_proof_back_and_cannot_be_replayed()
    {
        var (req, key, cn, ch) = await Prepare();
        var r = await service!.JoinAsync(req, "10.99.0.2", CancellationToken.None);
        Assert.Equal("voter", r.Role);
        Assert.Equal("kv-token", r.KvToken);
        Assert.NotEmpty(r.KvEndpoints);
        Assert.True(JoinProof.Equal(JoinProof.Server(key, cn, ch.ServerNonce, Pin, r), r.ServerProof));
        using var ca = pki!.LoadCa();
        using var cert = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(ClusterPki.PemDer(r.NodeCert));
        Assert.Null(ClusterCa.Verify(cert, ca));
        Assert.Equal("CN=node-b, O=tinyo", cert.Subject);
        // The same challenge twice: refused (one use).
        var e = await Assert.ThrowsAsync<ApiRequestException>(() => service.JoinAsync(req, "10.99.0.2", CancellationToken.None));
        Assert.Equal("bad_challenge", e.Code);
    }

    [Fact]
    public async Task A_proof_for_another_tls_key_a_wrong_password_or_another_net_is_refused()
    {
        var mitm = await Prepare(pin: "sha256:2222222222222222222222222222222222222222222222222222222222222222");
        Assert.Equal(401, (await Assert.ThrowsAsync<ApiRequestException>(() => service!.JoinAsync(mitm.Request, "10.99.0.9", CancellationToken.None))).Status);
        var wrong = await Prepare(password: "wrong-horse-1", peer: "10.99.0.9");
        Assert.Equal(401, (await Assert.ThrowsAsync<ApiRequestException>(() => service!.JoinAsync(wrong.Request, "10.99.0.9", CancellationToken.None))).Status);
        var other = await Prepare(net: "other", peer: "10.99.0.3");
        var e = await Assert.ThrowsAsync<ApiRequestException>(() => service!.JoinAsync(other.Request, "10.99.0.3", CancellationToken.None));
        Assert.Contains("belongs to net 'prod', not 'other'", e.Message);
        var skewed = await Prepare(peer: "10.99.0.3");
        e = await Assert.ThrowsAsync<ApiRequestException>(() => service!.JoinAsync(skewed.Request with { Time = DateTimeOffset.UtcNow.AddHours(1) }, "10.99.0.3", CancellationToken.None));
        Assert.Equal("clock_skew", e.Code);
        // Two failures from 10.99.0.9, then a third and a fourth: the address is throttled.
        for (var i = 0; i < 2; i++)
        {
            var again = await Prepare(password: "wrong-horse-1", peer: "10.99.0.9");
            await Assert.ThrowsAsync<ApiRequestException>(() => service!.JoinAsync(again.Request, "10.99.0.9", CancellationToken.None));
        }
        var t = await Assert.ThrowsAsync<ApiRequestException>(() => Prepare(peer: "10.99.0.9"));
        Assert.Equal(429, t.Status);
    }

    [Fact]
    public async Task A_live_node_name_is_not_given_twice_and_a_node_without_the_ca_key_refuses()
    {
        await store!.PutAsync(ClusterKeys.Nodes + "node-b", new NodeRecord("node-b", "10.99.0.5", 7443, 2, 1 << 30, null, DateTimeOffset.UtcNow),
            ClusterJson.Default.NodeRecord, CancellationToken.None);
        await store.PutExpiringAsync(ClusterKeys.Alive + "node-b", new NodeRecord("node-b", "10.99.0.5", 7443, 2, 1 << 30, null, DateTimeOffset.UtcNow),
            ClusterJson.Default.NodeRecord, TimeSpan.FromSeconds(30), CancellationToken.None);
        var (req, _, _, _) = await Prepare();
        Assert.Equal("node_exists", (await Assert.ThrowsAsync<ApiRequestException>(() => service!.JoinAsync(req, "10.99.0.2", CancellationToken.None))).Code);
        File.Delete(pki!.CaKey);
        var (req2, _, _, _) = await Prepare(name: "node-c");
        Assert.Equal("no_ca", (await Assert.ThrowsAsync<ApiRequestException>(() => service!.JoinAsync(req2, "10.99.0.2", CancellationToken.None))).Code);
    }
}
