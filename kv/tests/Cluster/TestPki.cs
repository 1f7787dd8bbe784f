using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tinyo.Kv.Tests.Cluster;

/// <summary>
/// A throwaway CA and certificates written as PEM files into a temp directory (removed on dispose): made with
/// <see cref="CertificateRequest"/>, no openssl needed. ECDSA P-256 keeps generation and handshakes fast.
/// </summary>
public sealed class TestPki : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("tinyokv-pki-").FullName;
    private readonly X509Certificate2 ca;

    public TestPki(string name = "tinyokv test CA")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));
        ca = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-10), DateTimeOffset.UtcNow.AddDays(2)); // outlives every leaf it signs
        CaFile = Path.Combine(dir, "ca.pem");
        File.WriteAllText(CaFile, ca.ExportCertificatePem());
    }

    /// <summary>The CA certificate (PEM).</summary>
    public string CaFile { get; }

    /// <summary>
    /// Issues a certificate for 127.0.0.1 (IP SAN), usable as server and client certificate; returns the PEM
    /// paths of the certificate and its key.
    /// </summary>
    public (string Cert, string Key) Issue(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1") /* server auth */, new Oid("1.3.6.1.5.5.7.3.2") /* client auth */], false));
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using var cert = req.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), serial);
        var certFile = Path.Combine(dir, name + ".pem");
        var keyFile = Path.Combine(dir, name + "-key.pem");
        File.WriteAllText(certFile, cert.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (certFile, keyFile);
    }

    public void Dispose()
    {
        ca.Dispose();
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
