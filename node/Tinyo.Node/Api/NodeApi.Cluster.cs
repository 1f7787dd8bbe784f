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

    /// <summary>How long a drain waits for the moved replicas to run elsewhere.</summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(120);

    /// <summary>
    /// POST /v1/nodes/NAME drains a node; DELETE /v1/nodes/NAME drains it, then removes it from the registry and
    /// the KV group (refused for the node that serves the request: its own KV member would go with it).
    /// </summary>
    private async Task<HttpResponse> NodeDrainAsync(string name, bool remove, CancellationToken ct)
    {
        if (remove && name == options.Name)
            return Err(409, $"node {name} cannot remove itself: run tio node - {name} on another node (tio down on {name} drains it and stops it)", "self");
        try
        {
            var o = remove
                ? await NodeDrain.RemoveAsync(store, name, DrainTimeout, ct, options.Log)
                : await NodeDrain.DrainAsync(store, name, DrainTimeout, ct);
            options.Log($"node {name}: drained ({o.Moved} replica(s) moved, {o.Pending.Count} pending) in {o.Took.TotalMilliseconds:0} ms{(remove ? "; removed" : "")}");
            return Ok(new DrainResult(name, o.Moved, o.Pending, (long)o.Took.TotalMilliseconds, remove), ClusterJson.Default.DrainResult);
        }
        catch (NodeException e)
        {
            return Err(e.Message.StartsWith("no node", StringComparison.Ordinal) ? 404 : 504, e.Message, "drain");
        }
    }

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
