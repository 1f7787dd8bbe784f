using Tinyo.Api;

namespace Tinyo.Node.Reconcile;

/// <summary>What <c>GET /v1/apps</c> shows of an app: its desired state merged with what the nodes observed.</summary>
internal static class AppView
{
    /// <summary>
    /// Merges the stored record with the status entries (<c>NODE/APP</c> → status) of every node: containers of all
    /// nodes, restarts summed, the state of the one node (single-node clusters) or the worst of several. A status
    /// written for an older spec still shows (the reconciler is replacing containers); no status at all is
    /// <c>pending</c>.
    /// </summary>
    /// <remarks>With several nodes each container carries its node, and a replica that placement could not assign
    /// (<paramref name="pending"/>: index → reason) is listed as a <c>pending</c> container with the reason.</remarks>
    public static AppInfo Merge(string name, AppRecord rec, List<(string Name, AppStatus Value)> statuses, IReadOnlyDictionary<int, string>? pending = null)
    {
        var spec = rec.Spec;
        var mine = statuses.Where(s => s.Value.App == name && s.Name.EndsWith("/" + name, StringComparison.Ordinal)).Select(s => s.Value).ToList();
        var ports = spec.Ports.Select(p => p.ToString()).ToList();
        var waiting = (pending ?? new Dictionary<int, string>()).Where(p => p.Key <= spec.Replicas).OrderBy(p => p.Key)
            .Select(p => new ContainerStatus($"{name}-{p.Key}", null, "pending", 0, 0, null, null, LastError: p.Value)).ToList();
        if (mine.Count == 0)
            return waiting.Count == 0
                ? new AppInfo(name, spec.Image, "pending", ports, spec.Replicas, 0, rec.Created, rec.Updated)
                : new AppInfo(name, spec.Image, "pending", ports, spec.Replicas, 0, rec.Created, rec.Updated, waiting[0].LastError, waiting);
        var containers = mine.SelectMany(s => s.Containers.Select(c => c with { Node = s.Node })).Concat(waiting)
            .OrderBy(c => c.Name.Length).ThenBy(c => c.Name, StringComparer.Ordinal).ToList();
        string[] worstFirst = ["error", "restarting", "pulling", "starting", "pending", "exited", "running"];
        var state = worstFirst.FirstOrDefault(w => mine.Exists(s => s.State == w)) ?? mine[0].State;
        var error = mine.Select(s => s.Error).FirstOrDefault(e => e is not null)
                    ?? (state == "error" ? containers.Select(c => c.LastError).FirstOrDefault(e => e is not null) : null);
        return new AppInfo(name, spec.Image, state, ports, spec.Replicas, containers.Sum(c => c.Restarts), rec.Created, rec.Updated, error, containers);
    }
}
