using System.Net;
using System.Security.Cryptography;
using Tinyo.Api;
using Tinyo.Api.Cluster;
using Tinyo.Node.Api;
using Tinyo.Node.Security;
using Tinyo.Node.Store;

namespace Tinyo.Node.Cluster;

/// <summary>
/// The responder's side of <c>tio ++ -ip</c> (protocol: <see cref="JoinProof"/>). A challenge hands out the user's
/// salt and a one-use server nonce; a join is accepted only with a valid proof of the password bound to this node's
/// TLS key, for this node's net, from a clock within <see cref="MaxClockSkew"/>, for a node name no live node holds.
/// It is answered with a certificate the cluster CA signs for the joiner's own key (the CA key never leaves this
/// node), the CA certificate, the KV token and members, and the role: a voter while the KV has fewer than
/// <see cref="MaxVoters"/> voters, else a learner. Failed proofs count against the same throttle as logins.
/// </summary>
public sealed class JoinService(StateStore store, ClusterPki pki, string kvToken, LoginThrottle throttle, Action<string> log)
{
    /// <summary>Clocks further apart than this refuse the join (certificates and leases need roughly agreeing clocks).</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromSeconds(30);

    /// <summary>Voting KV members at most; further nodes join as learners.</summary>
    public const int MaxVoters = 5;

    private static readonly TimeSpan NonceLifetime = TimeSpan.FromMinutes(1);
    private const int MaxPending = 1024;
    private readonly Dictionary<string, (string User, string ClientNonce, DateTimeOffset Expires)> pending = [];
    private readonly byte[] decoySecret = RandomNumberGenerator.GetBytes(32);

    /// <summary>The pin of this node's API TLS certificate, which both proofs are bound to.</summary>
    public required string TlsPin { get; init; }

    /// <summary>Answers a challenge.</summary>
    public async Task<JoinChallenge> ChallengeAsync(JoinChallengeRequest r, string peer, CancellationToken ct)
    {
        if (throttle.RetryAfter(r.User, peer) is { } wait)
            throw new ApiRequestException(429, $"too many failed joins or logins: try again in {Math.Ceiling(wait.TotalSeconds)}s", "throttled");
        var u = await store.GetAsync(Keys.Users + r.User, StoreJson.Default.StoredUser, ct);
        // An unknown user gets a salt that looks like a real one and stays the same, so names cannot be probed.
        var salt = u?.Salt ?? Convert.ToBase64String(HMACSHA256.HashData(decoySecret, System.Text.Encoding.UTF8.GetBytes(r.User))[..16]);
        var nonce = JoinProof.Nonce();
        var now = DateTimeOffset.UtcNow;
        lock (pending)
        {
            if (pending.Count >= MaxPending)
                foreach (var k in pending.Where(p => p.Value.Expires < now).Select(p => p.Key).ToList()) pending.Remove(k);
            if (pending.Count >= MaxPending) throw new ApiRequestException(503, "too many joins in progress: try again shortly", "busy");
            pending[nonce] = (r.User, r.ClientNonce, now + NonceLifetime);
        }
        return new JoinChallenge(salt, u?.Iterations ?? Passwords.DefaultIterations, nonce, now);
    }

    /// <summary>Accepts or refuses a join (refusals are <see cref="ApiRequestException"/> naming the reason).</summary>
    public async Task<JoinResponse> JoinAsync(JoinRequest r, string peer, CancellationToken ct)
    {
        (string User, string ClientNonce, DateTimeOffset Expires) p;
        lock (pending)
        {
            if (!pending.Remove(r.ServerNonce, out p) || p.Expires < DateTimeOffset.UtcNow || p.User != r.User || p.ClientNonce != r.ClientNonce)
                throw new ApiRequestException(400, "unknown or expired join challenge: start the join again", "bad_challenge");
        }
        if (throttle.RetryAfter(r.User, peer) is { } wait)
            throw new ApiRequestException(429, $"too many failed joins or logins: try again in {Math.Ceiling(wait.TotalSeconds)}s", "throttled");
        var u = await store.GetAsync(Keys.Users + r.User, StoreJson.Default.StoredUser, ct);
        var key = u is null ? RandomNumberGenerator.GetBytes(32) : Convert.FromBase64String(u.Hash);
        var expected = JoinProof.Client(key, r.User, r.ClientNonce, r.ServerNonce, TlsPin, r.Net, r.Name);
        if (u is null || !JoinProof.Equal(expected, r.Proof))
        {
            throttle.Failed(r.User, peer);
            log($"refused join of node '{r.Name}' from {peer}: wrong user or password");
            throw new ApiRequestException(401, "wrong user or password", "unauthorized");
        }
        throttle.Succeeded(r.User, peer);

        var net = await new ClusterInit(store).NetAsync(ct);
        if (net != r.Net)
            throw new ApiRequestException(409, $"this node belongs to net '{net}', not '{r.Net}'", "wrong_net");
        var now = DateTimeOffset.UtcNow;
        var skew = (r.Time - now).Duration();
        if (skew > MaxClockSkew)
            throw new ApiRequestException(400, $"clocks differ by {skew.TotalSeconds:0} s (this node: {now:yyyy-MM-ddTHH:mm:ssZ}, the joining host: " +
                                               $"{r.Time.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}), more than {MaxClockSkew.TotalSeconds:0} s: synchronise the clocks (NTP) first", "clock_skew");
        if (!pki.HasCaKey)
            throw new ApiRequestException(409, "this node does not hold the cluster CA's key: join through the cluster's first node", "no_ca");
        var address = JoinRequests.Address(r.Address);
        var nodes = await NodeRegistry.ListAsync(store, ct);
        if (nodes.FirstOrDefault(n => n.Name == r.Name) is { State: "ready" } taken)
            throw new ApiRequestException(409, $"a live node named '{r.Name}' is already in the cluster ({taken.Address}): choose another --name", "node_exists");
        if (nodes.FirstOrDefault(n => n.Address == address.ToString() && n.State == "ready") is { } same)
            throw new ApiRequestException(409, $"node '{same.Name}' already has the address {address}", "node_exists");

        string certPem;
        string caPem;
        try
        {
            using var ca = pki.LoadCaWithKey();
            using var cert = ClusterCa.Sign(ca, r.Csr, r.Name, [address]);
            certPem = cert.ExportCertificatePem();
            caPem = ca.ExportCertificatePem();
        }
        catch (CryptographicException e)
        {
            throw new ApiRequestException(400, $"csr: not a valid, self-signed certificate request ({e.Message})", "bad_csr");
        }
        var members = await new NodeRegistryStore(store).MembersAsync(ct);
        var voters = members.Count(m => !m.Learner);
        var role = voters < MaxVoters ? "voter" : "learner";
        var endpoints = members.Where(m => !m.Learner).Select(m => m.ClientAddress).ToList();
        var response = new JoinResponse(net!, role, caPem, certPem, kvToken, endpoints, DateTimeOffset.UtcNow, "");
        response = response with { ServerProof = JoinProof.Server(key, r.ClientNonce, r.ServerNonce, TlsPin, response) };
        log($"node {r.Name} ({address}) joins as a KV {role}, certificate signed by the cluster CA, by {r.User} from {peer}");
        return response;
    }
}
