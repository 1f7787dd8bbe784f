using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tinyo.Api.Cluster;

/// <summary>
/// The cluster's certificate authority: an ECDSA P-256 key and a self-signed CA certificate, made by the first
/// <c>tio ++</c> of a cluster. It signs one certificate per node (<see cref="Sign"/>), which that node presents on
/// every node-to-node and node-to-KV connection (mutual TLS) and on its API port. The CA key stays on the node that
/// made it: joining nodes send a certificate signing request and get the certificate back, never the key.
/// Everything here is System.Security.Cryptography (OpenSSL underneath): no reflection, AOT-safe.
/// </summary>
public static class ClusterCa
{
    /// <summary>How long the CA is valid.</summary>
    public static readonly TimeSpan CaLifetime = TimeSpan.FromDays(3650);

    /// <summary>How long a node certificate is valid.</summary>
    public static readonly TimeSpan NodeLifetime = TimeSpan.FromDays(825);

    /// <summary>How far back a certificate's validity starts, so a node whose clock is a little behind still accepts it.</summary>
    public static readonly TimeSpan Backdate = TimeSpan.FromHours(1);

    /// <summary>Makes a new CA for the cluster <paramref name="net"/>; the result holds the private key.</summary>
    public static X509Certificate2 Create(string net)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN=tinyo cluster CA {net}, O=tinyo", key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return req.CreateSelfSigned(now - Backdate, now + CaLifetime);
    }

    /// <summary>
    /// Signs a node certificate for the public key in <paramref name="csrPem"/> (whose self-signature must verify).
    /// The names in it are the CA's decision, not the request's: CN and DNS name <paramref name="node"/>, the IP
    /// addresses given (the node's cluster address and loopback). Usable as TLS server and client (mutual TLS).
    /// </summary>
    /// <exception cref="CryptographicException">The request is not a valid, self-signed P-256 or RSA PKCS#10 request.</exception>
    public static X509Certificate2 Sign(X509Certificate2 ca, string csrPem, string node, IReadOnlyList<IPAddress> addresses)
    {
        var parsed = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256,
            CertificateRequestLoadOptions.Default, RSASignaturePadding.Pkcs1);
        var req = new CertificateRequest(new X500DistinguishedName($"CN={node}, O=tinyo"), parsed.PublicKey, HashAlgorithmName.SHA256);
        AddNodeExtensions(req, node, addresses);
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var now = DateTimeOffset.UtcNow;
        var notAfter = now + NodeLifetime < ca.NotAfter ? now + NodeLifetime : new DateTimeOffset(ca.NotAfter.ToUniversalTime());
        using var caKey = ca.GetECDsaPrivateKey() ?? throw new CryptographicException("the cluster CA has no private key here");
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7f; // a positive serial
        return req.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), now - Backdate, notAfter, serial);
    }

    /// <summary>A new node key and its signing request (PEM), as a joining node sends it.</summary>
    public static (ECDsa Key, string CsrPem) NewRequest(string node)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN={node}, O=tinyo", key, HashAlgorithmName.SHA256);
        return (key, req.CreateSigningRequestPem());
    }

    /// <summary>
    /// Checks that <paramref name="cert"/> was signed by <paramref name="ca"/> (this CA only, not the system's
    /// roots) and is valid now; null when it is, else why not.
    /// </summary>
    public static string? Verify(X509Certificate2 cert, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain.Build(cert)) return null;
        var status = chain.ChainStatus.Length > 0 ? chain.ChainStatus[0].StatusInformation.Trim() : "unknown";
        return $"not signed by the cluster CA or not valid now ({status})";
    }

    /// <summary>The fingerprint tio shows and pins for a CA: sha256 of its public key (<see cref="CertificatePin"/>).</summary>
    public static string Fingerprint(X509Certificate2 ca) => CertificatePin.Of(ca);

    private static void AddNodeExtensions(CertificateRequest req, string node, IReadOnlyList<IPAddress> addresses)
    {
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false)); // serverAuth, clientAuth
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(node);
        san.AddDnsName("localhost");
        var seen = new HashSet<IPAddress>();
        foreach (var a in addresses.Append(IPAddress.Loopback))
            if (seen.Add(a)) san.AddIpAddress(a);
        req.CertificateExtensions.Add(san.Build());
    }
}
