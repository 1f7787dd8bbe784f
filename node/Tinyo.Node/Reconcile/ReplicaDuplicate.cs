using Tinyo.Node.Runtime;
using Tinyo.Rt;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// Scale-up by duplication: a new replica of an app is made from a running, healthy replica of the same spec
/// (<see cref="IContainerHost.Duplicate"/>: the runtime reuses its layers, spec, limits and files, copy-on-write)
/// instead of from the image, and falls back to an ordinary start when no replica qualifies or the duplication is
/// refused. The new replica records which one it was duplicated from (<see cref="Replica.DuplicatedFrom"/>,
/// <c>tio ls</c>); the container carries it as a label too, so it survives a restart of the node.
/// </summary>
internal static class ReplicaDuplicate
{
    /// <summary>Starts replica <paramref name="r"/>: a duplicate of a healthy running replica when there is one,
    /// else (or when that fails) a fresh container from <paramref name="img"/>.</summary>
    public static HostContainer Start(IContainerHost host, AppInstance app, Replica r, RunOptions opts, HostImage img, Action<string> log)
    {
        if (SourceFor(host, app, r) is { } source)
        {
            try
            {
                var c = host.Duplicate(source, opts);
                r.DuplicatedFrom = source;
                return c;
            }
            catch (RtException e)
            {
                log($"app {app.Name}: duplicating {source} into {r.Name} failed ({e.Message}); starting it from the image");
            }
        }
        r.DuplicatedFrom = null;
        return host.Run(opts, img);
    }

    /// <summary>A replica to duplicate for <paramref name="r"/>: running since before this convergence pass, of the
    /// app's current spec, healthy when the app has a healthcheck (a starting one does not count); the lowest index
    /// first. Null when none.</summary>
    public static string? SourceFor(IContainerHost host, AppInstance app, Replica r)
    {
        foreach (var other in app.Replicas.Values.OrderBy(x => x.Index))
        {
            if (other == r || other.State != "running" || other.Id is null || other.Started is not { } t || t >= app.ConvergeStarted) continue;
            if (other.Probe is { } p && p.Status != "healthy") continue;
            if (host.Find(other.Name) is { Status: "running" } c && c.Id == other.Id && c.SpecHash == app.Hash) return other.Name;
        }
        return null;
    }

    /// <summary>
    /// What a duplicate of another replica changes in the spec it inherits: the node's labels (app, spec hash,
    /// replica index), per-replica mount sources (the secrets directory) and the replica's own network namespace (its
    /// cluster address, prepared by <see cref="ReplicaAddressing"/> before the start) from the new replica's options;
    /// the runtime changes id, name, hostname and paths itself.
    /// </summary>
    public static void Adjust(Spec spec, RunOptions o)
    {
        if (o.Network is { } net && net.StartsWith("ns:", StringComparison.Ordinal))
            foreach (var ns in spec.Linux?.Namespaces ?? [])
                if (ns.Type == "network") ns.Path = net[3..];
        spec.Annotations ??= [];
        foreach (var (k, v) in o.Annotations) spec.Annotations[k] = v;
        foreach (var m in spec.Mounts ?? [])
            foreach (var v in o.Volumes)
                if (v.Destination == m.Destination && m.Type is null or "" or "bind") m.Source = v.Source;
    }
}
