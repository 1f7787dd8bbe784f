using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Tinyo.Kv.Client;

namespace Tinyo.Kv.Server;

/// <summary>
/// TLS for a listening port (etcd's <c>--cert-file --key-file --trusted-ca-file --client-cert-auth</c>, or the
/// <c>--peer-*</c> equivalents). Without <see cref="ClientCertAuth"/> TLS only encrypts and proves the member's
/// identity; with it, the other side must present a certificate that chains to <see cref="TrustedCa"/>. The
/// cluster token is still required on top (defence in depth).
/// </summary>
public sealed class KvServerTls
{
    private SslStreamCertificateContext? context;

    /// <summary>This member's certificate with its private key.</summary>
    public required X509Certificate2 Certificate { get; init; }

    /// <summary>CA certificates that sign the certificates of clients (or peers); required for <see cref="ClientCertAuth"/>.</summary>
    public X509Certificate2Collection? TrustedCa { get; init; }

    /// <summary>Refuse connections without a certificate signed by <see cref="TrustedCa"/>.</summary>
    public bool ClientCertAuth { get; init; }

    /// <summary>
    /// Loads PEM files; null when no certificate is given. <paramref name="flags"/> is the flag prefix used in
    /// messages ("" or "peer-").
    /// </summary>
    public static KvServerTls? Load(string? certFile, string? keyFile, string? caFile, bool clientCertAuth, string flags = "")
    {
        var cert = TlsFiles.LoadPair(certFile, keyFile, $"--{flags}cert-file", $"--{flags}key-file");
        if (cert is null)
        {
            if (caFile is not null || clientCertAuth)
                throw new KvException($"--{flags}trusted-ca-file and --{flags}client-cert-auth need --{flags}cert-file and --{flags}key-file");
            return null;
        }
        if (!cert.HasPrivateKey) throw new KvException($"--{flags}key-file holds no private key for {certFile}");
        if (clientCertAuth && caFile is null) throw new KvException($"--{flags}client-cert-auth needs --{flags}trusted-ca-file");
        return new KvServerTls
        {
            Certificate = cert,
            TrustedCa = caFile is null ? null : TlsFiles.LoadCa(caFile),
            ClientCertAuth = clientCertAuth,
        };
    }

    /// <summary>
    /// Handshake options. The other side's certificate is accepted during the handshake and judged right after it
    /// (<see cref="CheckRemote"/>), so that a refused client gets a message saying why instead of a TLS alert.
    /// </summary>
    internal SslServerAuthenticationOptions Options() => new()
    {
        ServerCertificateContext = context ??= SslStreamCertificateContext.Create(Certificate, null, offline: true),
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        ClientCertificateRequired = ClientCertAuth,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = static (_, _, _, _) => true,
    };

    /// <summary>Null when the connection may proceed, else why its certificate is refused.</summary>
    internal string? CheckRemote(SslStream ssl)
    {
        if (!ClientCertAuth) return null;
        var problem = CertificateTrust.Check(ssl.RemoteCertificate, SslPolicyErrors.None, TrustedCa);
        return problem is null ? null : $"client certificate refused: {problem}; this member requires a certificate signed by its trusted CA";
    }

    /// <summary>
    /// The same files as seen by this member when it connects as a client (to other members): it trusts this
    /// port's CA and <paramref name="moreCa"/> (the peer CA), or the system's roots when neither is given.
    /// </summary>
    internal KvClientTls AsClient(X509Certificate2Collection? moreCa)
    {
        X509Certificate2Collection? trusted = null;
        if (TrustedCa is not null || moreCa is not null)
        {
            trusted = [];
            if (TrustedCa is not null) trusted.AddRange(TrustedCa);
            if (moreCa is not null) trusted.AddRange(moreCa);
        }
        return new() { TrustedCa = trusted, Certificate = Certificate };
    }

    /// <summary>True when <see cref="Certificate"/> chains to a root this system trusts.</summary>
    public bool ChainsToSystemRoots()
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        try
        {
            return chain.Build(Certificate);
        }
        finally
        {
            foreach (var el in chain.ChainElements)
                if (!ReferenceEquals(el.Certificate, Certificate)) el.Certificate.Dispose();
        }
    }
}
