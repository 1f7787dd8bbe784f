using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tinyo.Api.Cluster;

namespace Tinyo.Node.Tests.Cluster;

/// <summary>The cluster CA, node certificates and their files (issue 14: cluster identity).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ClusterCaTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("tinyo-pki-").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void First_node_makes_a_ca_and_its_own_certificate_with_private_keys_0600()
    {
        var pki = new ClusterPki(Path.Combine(dir, "pki"));
        var fp = pki.CreateFirst("prod", "node-a", [IPAddress.Parse("10.99.0.1")]);
        Assert.StartsWith("sha256:", fp);
        Assert.True(pki.Exists && pki.HasCaKey);
        foreach (var key in (string[])[pki.CaKey, pki.NodeKey])
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(pki.Dir));
        using var ca = pki.LoadCa();
        Assert.Contains("prod", ca.Subject);
        var bc = ca.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        Assert.True(bc.CertificateAuthority);
        Assert.Equal("ECC", ca.PublicKey.Oid.FriendlyName);
        using var node = pki.LoadNode();
        Assert.True(node.HasPrivateKey);
        Assert.Null(ClusterCa.Verify(node, ca));
        var san = node.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Contains("node-a", san.EnumerateDnsNames());
        Assert.Contains(IPAddress.Parse("10.99.0.1"), san.EnumerateIPAddresses());
        Assert.Contains(IPAddress.Loopback, san.EnumerateIPAddresses());
        var eku = node.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value).ToList();
        Assert.Contains("1.3.6.1.5.5.7.3.1", eku); // server
        Assert.Contains("1.3.6.1.5.5.7.3.2", eku); // client: mutual TLS
        // A second run keeps the same CA.
        Assert.Equal(fp, pki.CreateFirst("prod", "node-a", []));
    }

    [Fact]
    public void The_ca_signs_a_request_for_the_requesters_key_with_names_of_its_own_choosing()
    {
        using var ca = ClusterCa.Create("prod");
        var (key, csr) = ClusterCa.NewRequest("evil.example.com"); // the request's own names are ignored
        using (key)
        {
            using var cert = ClusterCa.Sign(ca, csr, "node-b", [IPAddress.Parse("10.99.0.2")]);
            Assert.Null(ClusterCa.Verify(cert, ca));
            Assert.Equal("CN=node-b, O=tinyo", cert.Subject);
            var names = cert.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames().ToList();
            Assert.DoesNotContain("evil.example.com", names);
            Assert.Equal(key.ExportSubjectPublicKeyInfo(), cert.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo());
            Assert.False(cert.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
            // Another cluster's CA does not vouch for it.
            using var other = ClusterCa.Create("other");
            Assert.NotNull(ClusterCa.Verify(cert, other));
        }
    }

    [Fact]
    public void A_tampered_or_foreign_request_is_refused()
    {
        using var ca = ClusterCa.Create("prod");
        var (key, csr) = ClusterCa.NewRequest("node-b");
        key.Dispose();
        // Flip a byte inside the signed part: the self-signature no longer verifies.
        var der = Convert.FromBase64String(string.Concat(csr.Split('\n').Where(l => !l.StartsWith("-----"))));
        der[40] ^= 0x01;
        var tampered = PemEncoding.WriteString("CERTIFICATE REQUEST", der);
        Assert.ThrowsAny<CryptographicException>(() => ClusterCa.Sign(ca, tampered, "node-b", []));
        Assert.ThrowsAny<CryptographicException>(() => ClusterCa.Sign(ca, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----", "x", []));
    }

    [Fact]
    public void A_joined_node_stores_its_key_0600_and_a_ca_it_cannot_sign_with()
    {
        using var ca = ClusterCa.Create("prod");
        var (key, csr) = ClusterCa.NewRequest("node-b");
        using (key)
        {
            using var cert = ClusterCa.Sign(ca, csr, "node-b", [IPAddress.Parse("10.99.0.2")]);
            var pki = new ClusterPki(Path.Combine(dir, "b"));
            pki.StoreJoined(ca.ExportCertificatePem(), key, cert.ExportCertificatePem());
            Assert.True(pki.Exists);
            Assert.False(pki.HasCaKey);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(pki.NodeKey));
            using var loaded = pki.LoadNode();
            Assert.True(loaded.HasPrivateKey);
            File.SetUnixFileMode(pki.NodeKey, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            Assert.Contains("chmod 600", Assert.ThrowsAny<CryptographicException>(() => pki.LoadNode()).Message);
            pki.Remove();
            Assert.False(Directory.Exists(pki.Dir));
        }
    }

    [Fact]
    public void Join_proofs_bind_the_password_the_nonces_and_the_tls_key()
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var k = JoinProof.Key("correct-horse-1", salt, 1000);
        var (cn, sn) = (JoinProof.Nonce(), JoinProof.Nonce());
        var p = JoinProof.Client(k, "admin", cn, sn, "sha256:aa", "prod", "node-b");
        Assert.True(JoinProof.Equal(p, JoinProof.Client(JoinProof.Key("correct-horse-1", salt, 1000), "admin", cn, sn, "sha256:aa", "prod", "node-b")));
        Assert.False(JoinProof.Equal(p, JoinProof.Client(JoinProof.Key("wrong-horse-1", salt, 1000), "admin", cn, sn, "sha256:aa", "prod", "node-b")));
        Assert.False(JoinProof.Equal(p, JoinProof.Client(k, "admin", cn, sn, "sha256:bb", "prod", "node-b"))); // a man in the middle's key
        Assert.False(JoinProof.Equal(p, JoinProof.Client(k, "admin", cn, JoinProof.Nonce(), "sha256:aa", "prod", "node-b"))); // replay
        var r = new JoinResponse("prod", "voter", "CA", "CERT", "token", ["10.99.0.1:2379"], DateTimeOffset.UnixEpoch, "");
        var s = JoinProof.Server(k, cn, sn, "sha256:aa", r);
        Assert.NotEqual(s, JoinProof.Server(k, cn, sn, "sha256:aa", r with { CaCert = "OTHER CA" })); // the CA is covered
        Assert.NotEqual(s, p);
    }
}
