using System.Globalization;
using Tinyo.Api;
using Tinyo.Api.Statefile;
using Tinyo.Node.Http;
using Tinyo.Node.Logs;
using Tinyo.Node.Store;
using Tinyo.Rt;
using Tinyo.Rt.Containers;

namespace Tinyo.Node.Api;

/// <summary>
/// Routes on an app's running containers (authenticated like every route):
/// <code>
/// GET  /v1/apps/NAME/logs?replica=N&amp;tail=N&amp;follow=1   the replica's output, streamed (chunked); follow ends when the container stops
/// POST /v1/apps/NAME/exec {command, replica?, env?}      runs a command in the replica, output and exit code as frames (ExecFrames)
/// POST /v1/apps/NAME/dup {count}                         N more replicas, duplicated from a running one (NodeApi.Dup.cs)
/// </code>
/// Replica N of app A is the runtime container named <c>A-N</c> under <c>ROOT/rt</c>. An unknown app or replica
/// is a 404 JSON error, sent before any streaming starts.
/// </summary>
public sealed partial class NodeApi
{
    private static readonly TimeSpan FollowPoll = TimeSpan.FromMilliseconds(250);
    private RuntimeRoot? runtimeRoot;
    private Cluster.ReplicaForwarder? forwarder;

    /// <summary>
    /// Sends logs and exec for replicas placed on other nodes to them (<see cref="Cluster.ReplicaForwarder"/>); null on a
    /// node without a cluster identity (<c>--pki</c>) or address, where every replica is local.
    /// </summary>
    private Cluster.ReplicaForwarder? Forwarder
        => forwarder ??= options.Pki is { Exists: true } pki && options.Address is not null ? new Cluster.ReplicaForwarder(pki, options.Name) : null;

    /// <summary>
    /// The node that runs replica <paramref name="replica"/> of <paramref name="app"/> when it is not this one (its
    /// placement names another node), else null: the replica is served here, or is answered with a 404 here. A
    /// forwarded request is never forwarded again (a placement that moved meanwhile is answered by a 404, not a loop).
    /// </summary>
    private async Task<Tinyo.Api.Cluster.NodeRecord?> OwnerElsewhereAsync(HttpRequest req, string app, int replica, CancellationToken ct)
    {
        ValidName(app, "app");
        if (req.Headers.TryGetValue(Cluster.ReplicaForwarder.Header, out var by))
        {
            // Only a node proves it is one (its certificate, checked in the handshake); anybody else's header is refused.
            if (req.ClusterPeer != by)
                throw new BadRequest(403, $"a forwarded request is accepted only from the cluster node it names ({Cluster.ReplicaForwarder.Header}: {Printable.Escape(by)}), over mutual TLS", "forbidden");
            return null;
        }
        if (Forwarder is null) return null;
        if (ContainerNames.Lookup(RtRoot, $"{app}-{replica}") is { } id && Directory.Exists(Path.Combine(RtRoot.Containers, id))) return null;
        var placed = await new PlacementStore(store).AssignmentAsync(app, replica, ct);
        if (placed?.Node is not { } node || node == options.Name) return null;
        return await store.GetAsync(ClusterKeys.Nodes + node, Tinyo.Api.Cluster.ClusterJson.Default.NodeRecord, ct)
               ?? throw new BadRequest(503, $"replica {replica} of app {app} is placed on node {node}, which is not registered (tio node ls)", "node_unreachable");
    }

    /// <summary>The runtime root of this node: <c>{node root}/rt</c>.</summary>
    private RuntimeRoot RtRoot => runtimeRoot ??= new RuntimeRoot(Path.Combine(options.Root, "rt"));

    private async Task<HttpResponse> ContainerRouteAsync(HttpRequest req, string app, string action, string user, CancellationToken ct)
        => (action, req.Method) switch
        {
            ("logs", "GET") => await LogsAsync(req, app, ct),
            ("exec", "POST") => await ExecAsync(req, app, user, ct),
            ("dup", "POST") => await DupAsync(req, app, user, ct),
            ("logs" or "exec" or "dup", _) => Err(405, $"{req.Method} is not allowed on {req.Path}", "method_not_allowed"),
            _ => Err(404, $"no such route: {req.Method} {req.Path}", "not_found"),
        };

    private static Dictionary<string, string> Query(HttpRequest req)
    {
        var q = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in req.Query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            var k = eq < 0 ? part : part[..eq];
            var v = eq < 0 ? "" : part[(eq + 1)..];
            try
            {
                q[Uri.UnescapeDataString(k)] = Uri.UnescapeDataString(v.Replace('+', ' '));
            }
            catch (UriFormatException)
            {
                throw new BadRequest(400, $"invalid query string: {req.Query}");
            }
        }
        return q;
    }

    private static int? IntParam(Dictionary<string, string> q, string name, int min, int max)
    {
        if (!q.TryGetValue(name, out var s)) return null;
        if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
            throw new BadRequest(400, $"invalid {name} '{s}': expected a whole number from {min} to {max}");
        return n;
    }

    /// <summary>The container id of replica <paramref name="replica"/> of <paramref name="app"/>; a 404 otherwise.</summary>
    private async Task<string> ReplicaAsync(string app, int replica, CancellationToken ct)
    {
        ValidName(app, "app");
        var id = ContainerNames.Lookup(RtRoot, $"{app}-{replica}");
        if (id is not null && Directory.Exists(Path.Combine(RtRoot.Containers, id))) return id;
        var rec = await store.GetAsync(Keys.Apps + app, J.AppRecord, ct);
        if (rec is null) throw new BadRequest(404, $"no such app: {app}", "not_found");
        throw new BadRequest(404, replica > rec.Spec.Replicas
            ? $"app {app} has no replica {replica} (it has {rec.Spec.Replicas})"
            : $"replica {replica} of app {app} has no container (not started yet?)", "not_found");
    }

    private bool Running(string id)
    {
        try
        {
            return new ContainerRuntime(RtRoot, new RuntimeOptions()).State(id).Status == "running";
        }
        catch (RtException)
        {
            return false;
        }
    }

    private async Task<HttpResponse> LogsAsync(HttpRequest req, string app, CancellationToken ct)
    {
        var q = Query(req);
        int replica = IntParam(q, "replica", 1, 10_000) ?? 1;
        int? tail = IntParam(q, "tail", 0, 1_000_000);
        bool follow = q.TryGetValue("follow", out var f) && f is "1" or "true" or "";
        if (await OwnerElsewhereAsync(req, app, replica, ct) is { } owner)
            return await Forwarder!.ForwardAsync(req, owner, $"replica {replica} of app {app}", ct);
        var id = await ReplicaAsync(app, replica, ct);
        var log = new ImageContainers(RtRoot, new RuntimeOptions()).LogFile(id);
        return new HttpResponse(200, [], "text/plain; charset=utf-8")
        {
            Streamer = async (body, token) =>
            {
                var (data, offset) = ContainerLogs.Tail(log, tail);
                if (data.Length > 0) await body.WriteAsync(data, token);
                if (!follow) return;
                // Ends when the container stops (as docker logs -f), or when the client goes away (token).
                await foreach (var chunk in ContainerLogs.FollowAsync(log, offset, FollowPoll, () => Running(id), token))
                    await body.WriteAsync(chunk, token);
            },
        };
    }

    private async Task<HttpResponse> ExecAsync(HttpRequest req, string app, string user, CancellationToken ct)
    {
        var r = Body(req, J.ExecRequest);
        if (r.Command is not { Count: > 0 } || string.IsNullOrEmpty(r.Command[0])) throw new BadRequest(400, "exec: a command is required");
        if (r.Command.Count > 4096 || r.Command.Any(a => a.Contains('\0'))) throw new BadRequest(400, "exec: invalid command (NUL bytes or too many arguments)");
        var env = new List<string>();
        foreach (var (k, v) in r.Env ?? [])
        {
            if (k.Length == 0 || k.Contains('=') || k.Contains('\0') || v.Contains('\0'))
                throw new BadRequest(400, $"exec: invalid environment variable name '{k}'");
            env.Add(k + "=" + v);
        }
        int replica = r.Replica ?? 1;
        if (replica < 1) throw new BadRequest(400, $"invalid replica {replica}: replicas count from 1");
        if (await OwnerElsewhereAsync(req, app, replica, ct) is { } owner)
        {
            options.Log($"exec in {app}-{replica} by {user}: forwarded to node {owner.Name}");
            return await Forwarder!.ForwardAsync(req, owner, $"replica {replica} of app {app}", ct);
        }
        var id = await ReplicaAsync(app, replica, ct);
        ExecSession session;
        try
        {
            session = await Task.Run(() => ExecSession.Start(RtRoot, id, r.Command, env), ct);
        }
        catch (RtException e)
        {
            // Not running, no such executable, bad working directory: the caller's problem, said plainly.
            var status = e.Message.Contains("not running", StringComparison.Ordinal) ? 409 : 400;
            throw new BadRequest(status, $"exec in {app}-{replica}: {e.Message}", status == 409 ? "not_running" : "exec_failed");
        }
        // The command is logged (who ran what where), its output is not.
        options.Log($"exec in {app}-{replica} by {user}{(req.ClusterPeer is { } via ? " through node " + via : "")}: {string.Join(' ', r.Command.Take(8))}{(r.Command.Count > 8 ? " …" : "")}");
        return new HttpResponse(200, [], ExecFrames.ContentType) { Streamer = session.StreamAsync };
    }
}
