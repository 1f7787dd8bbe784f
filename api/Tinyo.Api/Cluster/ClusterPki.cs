using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Tinyo.Api.Cluster;

/// <summary>
/// A node's cluster identity on disk, <c>ROOT/pki/</c>: <c>ca.crt</c> (the cluster CA's certificate, 0644),
/// <c>ca.key</c> (its private key, 0600: only on the node that made the CA), <c>node.crt</c> (this node's certificate,
/// signed by the CA, 0644) and <c>node.key</c> (its private key, 0600). Keys are created exclusively with mode 0600 from
/// the first byte, so no other user can ever read them. The same files serve tinyokv (both ports, mutual TLS),
/// tinyonode (its KV client and its API port) and join requests (the CA signs).
/// </summary>
public sealed record ClusterPki(string Dir)
{
    /// <summary>The CA certificate.</summary>
    public string CaCert => Path.Combine(Dir, "ca.crt");

    /// <summary>The CA private key (first node only).</summary>
    public string CaKey => Path.Combine(Dir, "ca.key");

    /// <summary>This node's certificate.</summary>
    public string NodeCert => Path.Combine(Dir, "node.crt");

    /// <summary>This node's private key.</summary>
    public string NodeKey => Path.Combine(Dir, "node.key");

    /// <summary>True when this node has its certificate and the CA's.</summary>
    public bool Exists => File.Exists(CaCert) && File.Exists(NodeCert) && File.Exists(NodeKey);

    /// <summary>True when the CA key is here (this node signs join requests).</summary>
    public bool HasCaKey => File.Exists(CaKey);

    /// <summary>
    /// The first node of a cluster: makes the CA and this node's certificate (for <paramref name="node"/> and
    /// <paramref name="addresses"/>), unless they exist. Returns the CA's fingerprint.
    /// </summary>
    public string CreateFirst(string net, string node, IReadOnlyList<IPAddress> addresses)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        if (Exists) return ClusterCa.Fingerprint(LoadCa());
        Directory.CreateDirectory(Dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var ca = ClusterCa.Create(net);
        using var caKey = ca.GetECDsaPrivateKey()!;
        WriteNew(CaKey, caKey.ExportPkcs8PrivateKeyPem(), Secret);
        WriteNew(CaCert, ca.ExportCertificatePem(), Public);
        var (key, csr) = ClusterCa.NewRequest(node);
        using (key)
        {
            using var cert = ClusterCa.Sign(ca, csr, node, addresses);
            WriteNew(NodeKey, key.ExportPkcs8PrivateKeyPem(), Secret);
            WriteNew(NodeCert, cert.ExportCertificatePem(), Public);
        }
        return ClusterCa.Fingerprint(ca);
    }

    /// <summary>A joining node: stores the CA certificate, its own key and the certificate the CA signed for it.</summary>
    public void StoreJoined(string caPem, ECDsa key, string certPem)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        Directory.CreateDirectory(Dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        WriteNew(NodeKey, key.ExportPkcs8PrivateKeyPem(), Secret);
        WriteNew(NodeCert, certPem, Public);
        WriteNew(CaCert, caPem, Public);
    }

    /// <summary>The CA certificate (public part only).</summary>
    public X509Certificate2 LoadCa() => X509CertificateLoader.LoadCertificate(PemDer(File.ReadAllText(CaCert)));

    /// <summary>The CA certificate with its private key (refused when the key file is readable by others).</summary>
    public X509Certificate2 LoadCaWithKey()
    {
        CheckPrivate(CaKey);
        return X509Certificate2.CreateFromPemFile(CaCert, CaKey);
    }

    /// <summary>This node's certificate with its private key.</summary>
    public X509Certificate2 LoadNode()
    {
        CheckPrivate(NodeKey);
        return X509Certificate2.CreateFromPemFile(NodeCert, NodeKey);
    }

    /// <summary>Deletes the directory (a join that did not complete leaves nothing behind).</summary>
    public void Remove()
    {
        if (Directory.Exists(Dir)) Directory.Delete(Dir, recursive: true);
    }

    private const UnixFileMode Secret = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Public = Secret | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private static void CheckPrivate(string keyFile)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        if ((File.GetUnixFileMode(keyFile) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
            throw new CryptographicException($"{keyFile}: a private key must be readable by its owner only (chmod 600)");
    }

    /// <summary>The DER bytes of the first certificate in a PEM text.</summary>
    public static byte[] PemDer(string pem)
    {
        var f = PemEncoding.Find(pem);
        if (pem.AsSpan()[f.Label] is not "CERTIFICATE") throw new CryptographicException("not a PEM certificate");
        return Convert.FromBase64String(pem[f.Base64Data]);
    }

    private static void WriteNew(string path, string pem, UnixFileMode mode)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        using var f = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode });
        f.Write(Encoding.ASCII.GetBytes(pem.EndsWith('\n') ? pem : pem + "\n"));
        f.Flush(flushToDisk: true);
    }
}
