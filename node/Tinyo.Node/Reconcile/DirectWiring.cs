using Tinyo.Api.Statefile;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Network.Direct;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// The reconciler's side of the direct network (<see cref="Direct.DirectPaths"/>, <see cref="Direct.ClusterShortcuts"/>):
/// the socket directory and regions a replica needs, made before its container and mounted into it; its cluster's
/// cgroup v2 directory, which its container is born in, and the eBPF shortcut attached there once a second replica
/// of the cluster is here; pruned after removals and full syncs. Nothing to do when the node has no
/// <see cref="ReconcilerOptions.DirectPaths"/> (unit tests with a fake host).
/// </summary>
internal static class DirectWiring
{
    /// <summary>What a replica's container gets: mounts, and the cgroup v2 directory it is born in (or null).</summary>
    public readonly record struct Inputs(List<BindMount> Mounts, string? ClusterCgroup);

    /// <summary>Makes what replica <paramref name="r"/> needs and returns its inputs (empty without direct paths). A
    /// failure marks the replica in error (the app's retry comes back to it) and is thrown.</summary>
    public static async Task<Inputs> PrepareAsync(ReconcileContext ctx, AppInstance app, Replica r)
    {
        if (ctx.Options.DirectPaths is not { } d) return new([], null);
        var spec = app.Spec!;
        try
        {
            var mounts = await d.PrepareAsync(spec, Specs(ctx), ctx.Queue.Stopping).ConfigureAwait(false);
            r.Socket = spec.UnixSocket is { } file ? ClusterSockets.ContainerPath + "/" + file : null;
            if (ctx.Options.Shortcuts is not { } shortcuts) return new(mounts, null);
            var cluster = await d.ClusterOfAsync(spec, ctx.Queue.Stopping).ConfigureAwait(false);
            bool was = shortcuts.PathOf(cluster).Path == "shortcut";
            var dir = shortcuts.Prepare(cluster, await ReplicasOnAsync(ctx, d, cluster).ConfigureAwait(false));
            r.DirectPath = shortcuts.PathOf(cluster);
            if (!was && r.DirectPath.Path == "shortcut")
                foreach (var other in ctx.Apps.Values)
                    if (other != app && other.Replicas.Values.Any(x => x.DirectPath == r.DirectPath)) ctx.Publish(other); // their path changed too
            return new(mounts, dir);
        }
        catch (NodeException e)
        {
            r.State = "error";
            r.LastError = e.Message;
            throw;
        }
    }

    /// <summary>The pipe ends a replica of <paramref name="spec"/> gets as stdin and stdout (null: the usual). A
    /// producer that started before its consumer was known writes to its log: it is killed once (SIGKILL: its pid 1
    /// ignores SIGTERM without a handler) and its restart takes the pipe.</summary>
    public static (int? Stdin, int? Stdout) StdioOf(ReconcileContext ctx, AppSpec spec)
    {
        if (ctx.Options.Pipes is not { } p || (spec.StdinFrom is null && !ctx.Apps.Values.Any(a => a.Spec?.StdinFrom == spec.Name)))
            return (null, null);
        var stdio = p.StdioOf(spec, Specs(ctx), out bool made);
        if (made && spec.StdinFrom is { } producer && ctx.Apps.TryGetValue(producer, out var pa))
            foreach (var r in pa.Replicas.Values)
                if (r.State == "running" && r.Id is { } id)
                {
                    ctx.Log($"app {producer}: restarting {r.Name} so that its stdout is the pipe to {spec.Name}");
                    ctx.Host.Kill(id, 9, all: false);
                }
        return stdio;
    }

    /// <summary>Removes the directories, regions, shortcuts and pipes no app of this node uses any more.</summary>
    public static async Task PruneAsync(ReconcileContext ctx)
    {
        ctx.Options.Pipes?.Prune(Specs(ctx));
        if (ctx.Options.DirectPaths is not { } d) return;
        await d.PruneAsync(Specs(ctx), ctx.Queue.Stopping).ConfigureAwait(false);
        if (ctx.Options.Shortcuts is not { } shortcuts) return;
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var spec in Specs(ctx))
        {
            try { used.Add(await d.ClusterOfAsync(spec, ctx.Queue.Stopping).ConfigureAwait(false)); }
            catch (Exception e) when (e is NodeException or Kv.KvException) { return; } // unknown: remove nothing
        }
        foreach (var cluster in shortcuts.Clusters())
            if (!used.Contains(cluster)) shortcuts.Remove(cluster);
    }

    /// <summary>The replicas this node holds of the apps on <paramref name="cluster"/> with its network.</summary>
    private static async Task<int> ReplicasOnAsync(ReconcileContext ctx, Direct.DirectPaths d, string cluster)
    {
        int n = 0;
        foreach (var a in ctx.Apps.Values)
            if (a.Spec is { Network: not ("none" or "host") } s && await d.ClusterOfAsync(s, ctx.Queue.Stopping).ConfigureAwait(false) == cluster)
                n += a.Replicas.Count;
        return n;
    }

    private static List<AppSpec> Specs(ReconcileContext ctx)
        => [.. ctx.Apps.Values.Select(a => a.Spec).OfType<AppSpec>()];
}
