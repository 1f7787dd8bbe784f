using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tinyo.Api.Cluster;
using Tinyo.Ctl.Client;

namespace Tinyo.Ctl.Setup;

/// <summary>
/// The joining side of <c>tio ++ -ip</c>, before anything is written on this host: asks the node at the given
/// address for a challenge, checks the clocks, proves the admin's password without sending it, and accepts the
/// answer only when the node proves it knows the password too (<see cref="JoinProof"/>) and the certificate it
/// signed is for this host's new key and chains to the CA it sent. Every refusal is a <see cref="CtlException"/>
/// naming the cause; nothing is kept but the returned key.
/// </summary>
public static class ClusterJoin
{
    /// <summary>The API's TCP port of a clustered node unless <c>-ip IP:PORT</c> says otherwise.</summary>
    public const int DefaultApiPort = 7443;

    /// <summary>How long the node at -ip may take to accept the connection.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>A join the node accepted and proved.</summary>
    /// <param name="Response">The node's answer.</param>
    /// <param name="Key">This node's new private key (the certificate is for it).</param>
    /// <param name="CaFingerprint">The CA's public-key fingerprint, to show.</param>
    public sealed record Accepted(JoinResponse Response, ECDsa Key, string CaFingerprint);

    /// <summary>What the join asks for.</summary>
    /// <param name="Target">The node to join through (-ip).</param>
    /// <param name="User">The admin user.</param>
    /// <param name="Password">Its password (never sent).</param>
    /// <param name="Net">The cluster's name (-net).</param>
    /// <param name="Name">This node's name.</param>
    /// <param name="Address">This node's cluster address.</param>
    /// <param name="Labels">This node's labels.</param>
    public sealed record Ask(DnsEndPoint Target, string User, string Password, string Net, string Name, IPAddress Address,
        IReadOnlyDictionary<string, string> Labels);

    /// <summary>Runs the challenge and the join. <paramref name="clock"/> is this host's clock (tests skew it).</summary>
    public static async Task<Accepted> RunAsync(Ask ask, Func<DateTimeOffset> clock, CancellationToken ct)
    {
        var where = $"{ask.Target.Host}:{ask.Target.Port}";
        var client = new NodeClient(new NodeAddress(null, ask.Target)) { AcceptAnyKey = true, Timeout = ConnectTimeout };
        var clientNonce = JoinProof.Nonce();
        JoinChallenge challenge;
        try
        {
            challenge = await client.ClusterChallengeAsync(new JoinChallengeRequest(ask.User, clientNonce), ct).ConfigureAwait(false);
        }
        catch (NodeUnreachableException e)
        {
            throw new CtlException($"cannot join through {where}: no node answered within {ConnectTimeout.TotalSeconds:0} s ({e.Message}); " +
                                   "check the address and that the node was set up with --addr (its API listens on port " + DefaultApiPort + ")", e);
        }
        catch (ApiException e)
        {
            throw new CtlException($"the node at {where} refused the join: {e.Message}", e);
        }
        var pin = client.PresentedPin ?? throw new CtlException($"the node at {where} presented no TLS certificate");
        var skew = (challenge.Time - clock()).Duration();
        if (skew > TimeSpan.FromSeconds(30))
            throw new CtlException($"this host's clock differs from the node at {where} by {skew.TotalSeconds:0} s (node: {challenge.Time.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}, " +
                                   $"here: {clock().UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}), more than 30 s: synchronise the clocks (NTP) and join again");
        if (challenge.Iterations is < 1000 or > 10_000_000)
            throw new CtlException($"the node at {where} asked for {challenge.Iterations} PBKDF2 iterations: refused");
        byte[] salt;
        try
        {
            salt = Convert.FromBase64String(challenge.Salt);
        }
        catch (FormatException)
        {
            throw new CtlException($"the node at {where} sent a malformed challenge");
        }
        var secret = JoinProof.Key(ask.Password, salt, challenge.Iterations);
        var (key, csr) = ClusterCa.NewRequest(ask.Name);
        try
        {
            var proof = JoinProof.Client(secret, ask.User, clientNonce, challenge.ServerNonce, pin, ask.Net, ask.Name);
            JoinResponse r;
            try
            {
                r = await client.ClusterJoinAsync(new JoinRequest(ask.User, clientNonce, challenge.ServerNonce, proof, ask.Net, ask.Name,
                    ask.Address.ToString(), csr, clock(), Environment.ProcessorCount, MemoryBytes(), ask.Labels), ct).ConfigureAwait(false);
            }
            catch (ApiException e) when (e.Code == "unauthorized")
            {
                throw new CtlException($"the node at {where} refused the join: wrong user or password for '{ask.User}'", e);
            }
            catch (ApiException e)
            {
                throw new CtlException($"the node at {where} refused the join: {e.Message}", e);
            }
            catch (NodeUnreachableException e)
            {
                throw new CtlException($"the node at {where} stopped answering during the join: {e.Message}", e);
            }
            // The same key on both connections, and an answer only someone with the password could have made.
            if (client.PresentedPin != pin || !JoinProof.Equal(JoinProof.Server(secret, clientNonce, challenge.ServerNonce, pin, r), r.ServerProof ?? ""))
                throw new CtlException($"the node at {where} could not prove it knows the password of '{ask.User}': not joining (wrong address, or someone in between)");
            if (r.Net != ask.Net) throw new CtlException($"the node at {where} belongs to net '{r.Net}', not '{ask.Net}'");
            string fingerprint;
            try
            {
                using var ca = X509CertificateLoader.LoadCertificate(ClusterPki.PemDer(r.CaCert));
                using var cert = X509CertificateLoader.LoadCertificate(ClusterPki.PemDer(r.NodeCert));
                if (ClusterCa.Verify(cert, ca) is { } why) throw new CtlException($"the certificate the node at {where} signed is {why}");
                using var certKey = cert.GetECDsaPublicKey();
                if (certKey is null || !certKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
                    throw new CtlException($"the certificate the node at {where} signed is not for this host's key");
                fingerprint = ClusterCa.Fingerprint(ca);
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException or FormatException)
            {
                throw new CtlException($"the node at {where} sent a malformed certificate: {e.Message}");
            }
            return new Accepted(r, key, fingerprint);
        }
        catch
        {
            key.Dispose();
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    /// <summary>The address of this host the kernel would use to reach <paramref name="target"/> (no packet is sent).</summary>
    public static IPAddress LocalAddressToward(IPAddress target)
    {
        using var s = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            s.Connect(new IPEndPoint(target, 9));
        }
        catch (SocketException e)
        {
            throw new CtlException($"no route to {target} from this host ({e.Message}): pass this host's address with --addr");
        }
        return ((IPEndPoint)s.LocalEndPoint!).Address;
    }

    private static long MemoryBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal)
                    && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out var kb)) return kb * 1024;
        }
        catch (IOException)
        {
        }
        return 1;
    }
}
