using System.Text.Json;
using Tinyo.Api.Cluster;
using Tinyo.Node.Cluster;
using Tinyo.Node.Http;

namespace Tinyo.Node.Api;

/// <summary>The cluster routes: a joining node's challenge and join (<see cref="JoinService"/>).</summary>
public sealed partial class NodeApi
{
    private JoinService? join;

    /// <summary>
    /// Enables joins through this node: it needs the cluster CA's key and a TLS API port (the proofs are bound to
    /// that port's key). Called by the daemon once the TCP listener is up.
    /// </summary>
    public void EnableJoins(Tinyo.Api.Cluster.ClusterPki pki, string tlsPin)
        => join = new JoinService(store, pki, options.KvToken, throttle, options.Log) { TlsPin = tlsPin };

    private async Task<HttpResponse> ClusterRouteAsync(HttpRequest req, string what, CancellationToken ct)
    {
        if (join is null)
            return Err(409, "this node does not accept joins: it was set up without a cluster address (tio ++ --addr IP) or does not hold the cluster CA", "no_join");
        if (what == "challenge")
            return Ok(await join.ChallengeAsync(JoinRequests.Challenge(req.Body), req.Peer, ct), ClusterJson.Default.JoinChallenge);
        return new HttpResponse(200, JsonSerializer.SerializeToUtf8Bytes(
            await join.JoinAsync(JoinRequests.Join(req.Body), req.Peer, ct), ClusterJson.Default.JoinResponse));
    }
}
