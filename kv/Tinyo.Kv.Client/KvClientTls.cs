using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tinyo.Kv.Client;

/// <summary>
/// TLS for a client connection (etcdctl's <c>--cacert --cert --key</c>): the member's certificate must chain to
/// <see cref="TrustedCa"/> (or to the system's roots when none is given) and name the address dialled (an IP SAN
/// for an IP endpoint) or <see cref="ServerName"/>. <see cref="Certificate"/> is presented to members that
/// require client certificates.
/// </summary>
public sealed class KvClientTls
{
    // Reached through a delegate made in the constructor, so that a program that never builds TLS settings (the
    // node, the tio CLI) does not link SslStream: NativeAOT keeps only what it can reach (~3 MB here).
    private readonly Func<KvClientTls, Stream, EndPoint, CancellationToken, CancellationToken, Task<Stream>> handshake;

    /// <summary>Creates empty settings (system roots, no client certificate); see <see cref="Load"/>.</summary>
    public KvClientTls() => handshake = HandshakeAsync;

    /// <summary>CA certificates the member's certificate must chain to; null for the system's trust store.</summary>
    public X509Certificate2Collection? TrustedCa { get; init; }

    /// <summary>The client certificate, with its private key; null to present none.</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>The name expected in the member's certificate; null for the endpoint's address.</summary>
    public string? ServerName { get; init; }

    /// <summary>Loads PEM files: a CA bundle (optional) and a certificate with its key (optional, both or neither).</summary>
    public static KvClientTls Load(string? caFile, string? certFile, string? keyFile, string? serverName = null) => new()
    {
        TrustedCa = caFile is null ? null : TlsFiles.LoadCa(caFile),
        Certificate = TlsFiles.LoadPair(certFile, keyFile, "--cert", "--key"),
        ServerName = serverName,
    };

    private SslStreamCertificateContext? context;

    /// <summary>
    /// Runs the client handshake over <paramref name="plain"/> (owned). A failure retrying cannot fix throws
    /// <see cref="KvTlsException"/>; a reset or a timeout (a member restarting) <see cref="KvConnectionException"/>.
    /// </summary>
    internal Task<Stream> SecureAsync(Stream plain, EndPoint endPoint, CancellationToken timeout, CancellationToken ct)
        => handshake(this, plain, endPoint, timeout, ct);

    private static async Task<Stream> HandshakeAsync(KvClientTls tls, Stream plain, EndPoint endPoint, CancellationToken timeout, CancellationToken ct)
    {
        var ssl = new SslStream(plain, leaveInnerStreamOpen: false);
        string? rejected = null;
        try
        {
            await ssl.AuthenticateAsClientAsync(tls.Options(endPoint, r => rejected = r), timeout).ConfigureAwait(false);
            return ssl;
        }
        catch (Exception e) when (e is AuthenticationException or IOException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            if (rejected is not null) throw new KvTlsException($"TLS handshake with {endPoint} failed: {rejected}");
            if (e is AuthenticationException)
                throw new KvTlsException($"TLS handshake with {endPoint} failed ({e.Message}): is the member serving TLS on its client port?");
            // A reset or a timeout can be a member restarting: retryable.
            throw new KvConnectionException($"TLS handshake with {endPoint} failed: {(e is OperationCanceledException ? "timed out" : e.Message)}");
        }
    }

    /// <summary>Options for one handshake with the member at <paramref name="remote"/>.</summary>
    internal SslClientAuthenticationOptions Options(EndPoint remote, Action<string> onRejected)
    {
        var host = ServerName ?? (remote is IPEndPoint ip ? ip.Address.ToString() : remote.ToString()!);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = host,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, cert, _, errors) =>
            {
                var problem = CertificateTrust.Check(cert, errors, TrustedCa);
                if (problem is null) return true;
                onRejected($"the certificate of {host} is not trusted: {problem}");
                return false;
            },
        };
        if (Certificate is not null)
        {
            // A context always sends this certificate, whatever CA names the member lists in its request.
            options.ClientCertificateContext = context ??= SslStreamCertificateContext.Create(Certificate, null, offline: true);
        }
        return options;
    }
}

/// <summary>Chain checks against a private CA (the usual case for a cluster), with a reason a person can act on.</summary>
internal static class CertificateTrust
{
    /// <summary>
    /// Null when <paramref name="cert"/> is acceptable, else the reason: SslStream's <paramref name="errors"/>
    /// show no missing certificate or name mismatch, and the certificate chains to <paramref name="ca"/> (SslStream
    /// judged the chain against the system's roots, so with a private CA that verdict is replaced).
    /// </summary>
    public static string? Check(X509Certificate? cert, SslPolicyErrors errors, X509Certificate2Collection? ca)
    {
        if (cert is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0) return "no certificate presented";
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) return "its name does not match the address dialled";
        if (ca is null)
            return (errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0 ? "it does not chain to a root the system trusts" : null;
        using var leaf = new X509Certificate2(cert);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        try
        {
            if (chain.Build(leaf)) return null;
            var reasons = new List<string>();
            foreach (var s in chain.ChainStatus) reasons.Add(s.Status.ToString());
            return $"not signed by the trusted CA ({string.Join(", ", reasons)})";
        }
        catch (CryptographicException e)
        {
            return e.Message;
        }
        finally
        {
            foreach (var el in chain.ChainElements)
                if (!ReferenceEquals(el.Certificate, leaf)) el.Certificate.Dispose();
        }
    }
}

/// <summary>PEM loading with errors that name the file and the flag.</summary>
internal static class TlsFiles
{
    public static X509Certificate2Collection LoadCa(string file)
    {
        var ca = new X509Certificate2Collection();
        try
        {
            ca.ImportFromPemFile(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new KvException($"cannot read CA file {file}: {e.Message}");
        }
        if (ca.Count == 0) throw new KvException($"CA file {file} holds no PEM certificate");
        return ca;
    }

    public static X509Certificate2? LoadPair(string? certFile, string? keyFile, string certFlag, string keyFlag)
    {
        if (certFile is null && keyFile is null) return null;
        if (certFile is null || keyFile is null) throw new KvException($"{certFlag} and {keyFlag} go together");
        try
        {
            return X509Certificate2.CreateFromPemFile(certFile, keyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new KvException($"cannot load certificate {certFile} with key {keyFile}: {e.Message}");
        }
    }
}
