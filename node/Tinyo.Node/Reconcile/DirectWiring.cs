using Tinyo.Api.Statefile;
using Tinyo.Rt.Containers;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// The reconciler's side of the direct network's paths (<see cref="Direct.DirectPaths"/>): the socket directory and
/// regions a replica needs, made before its container and mounted into it; pruned after removals and full syncs.
/// Nothing to do when the node has no <see cref="ReconcilerOptions.DirectPaths"/> (unit tests with a fake host).
/// </summary>
internal static class DirectWiring
{
    /// <summary>Makes what replica <paramref name="r"/> needs and returns its mounts (empty without direct paths). A
    /// failure marks the replica in error (the app's retry comes back to it) and is thrown.</summary>
    public static async Task<List<BindMount>> PrepareAsync(ReconcileContext ctx, AppInstance app, Replica r)
    {
        if (ctx.Options.DirectPaths is not { } d) return [];
        try
        {
            return await d.PrepareAsync(app.Spec!, Specs(ctx), ctx.Queue.Stopping).ConfigureAwait(false);
        }
        catch (NodeException e)
        {
            r.State = "error";
            r.LastError = e.Message;
            throw;
        }
    }

    /// <summary>Removes the directories and regions no app of this node uses any more.</summary>
    public static Task PruneAsync(ReconcileContext ctx)
        => ctx.Options.DirectPaths is { } d ? d.PruneAsync(Specs(ctx), ctx.Queue.Stopping) : Task.CompletedTask;

    private static List<AppSpec> Specs(ReconcileContext ctx)
        => [.. ctx.Apps.Values.Select(a => a.Spec).OfType<AppSpec>()];
}
