using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tinyo.Node.Security;

/// <summary>
/// The TLS certificate of the API's TCP listener. By default the node makes its own on first start: an ECDSA P-256
/// key and a self-signed certificate for its host name, localhost and the listen address, kept in its state
/// directory (<c>api.key</c> mode 0600, <c>api.crt</c> 0644) and reused afterwards. Clients trust it by pinning its
/// public key (tio ++ pins it over the root-only unix socket; remote clients with <c>tio login --fingerprint</c>),
/// not by a CA. An operator's own certificate and key (<c>--tls-cert</c>, <c>--tls-key</c>) replace it.
/// </summary>
public static class ApiCertificate
{
    /// <summary>File name of the generated certificate in the state directory.</summary>
    public const string CertFile = "api.crt";

    /// <summary>File name of the generated private key in the state directory.</summary>
    public const string KeyFile = "api.key";

    /// <summary>Loads the node's certificate from <paramref name="root"/>, creating it when neither file exists.</summary>
    public static X509Certificate2 LoadOrCreate(string root, string nodeName, IPEndPoint listen)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        var crt = Path.Combine(root, CertFile);
        var key = Path.Combine(root, KeyFile);
        if (!File.Exists(crt) && !File.Exists(key)) Create(crt, key, nodeName, listen);
        return Load(crt, key);
    }

    /// <summary>Loads a PEM certificate and its PEM private key; the key file must be readable by its owner only.</summary>
    public static X509Certificate2 Load(string certFile, string keyFile)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        foreach (var f in (string[])[certFile, keyFile])
            if (!File.Exists(f)) throw new NodeException($"{f}: does not exist (the API's TLS certificate and key go together)");
        if ((File.GetUnixFileMode(keyFile) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
            throw new NodeException($"{keyFile}: the API's private key must be readable by its owner only (chmod 600)");
        try
        {
            return X509Certificate2.CreateFromPemFile(certFile, keyFile);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new NodeException($"{certFile}, {keyFile}: not a PEM certificate and its matching private key ({e.Message})", e);
        }
    }

    private static void Create(string crt, string key, string nodeName, IPEndPoint listen)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(crt)!);
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN=tinyonode {nodeName}", ec, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false)); // serverAuth
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        if (Uri.CheckHostName(nodeName) == UriHostNameType.Dns) san.AddDnsName(nodeName);
        san.AddIpAddress(IPAddress.Loopback);
        if (!listen.Address.Equals(IPAddress.Any) && !listen.Address.Equals(IPAddress.IPv6Any) && !IPAddress.IsLoopback(listen.Address))
            san.AddIpAddress(listen.Address);
        req.CertificateExtensions.Add(san.Build());
        var now = DateTimeOffset.UtcNow;
        using var cert = req.CreateSelfSigned(now.AddDays(-1), now.AddYears(10));
        // The key first, exclusively and 0600 from its creation: no moment where another user could read it.
        WriteNew(key, ec.ExportPkcs8PrivateKeyPem(), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        WriteNew(crt, cert.ExportCertificatePem(), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    private static void WriteNew(string path, string pem, UnixFileMode mode)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException();
        using var f = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode });
        f.Write(System.Text.Encoding.ASCII.GetBytes(pem + "\n"));
        f.Flush(flushToDisk: true);
    }
}
