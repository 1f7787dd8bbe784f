using Tinyo.Api.Statefile;
using Tinyo.Kv;
using Tinyo.Node.Runtime;
using Tinyo.Rt.Containers;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// The reconciler's side of cluster networks: a replica's namespace and address before its container is made (the
/// container joins the namespace by path, its resolv.conf names the cluster's DNS responder and its hosts file its
/// own address), their removal with the container, the names each cluster resolves, recovery at a full sync.
/// </summary>
internal static class ReplicaAddressing
{
    /// <summary>Prepares replica <paramref name="r"/>'s network and points <paramref name="opts"/> at it. A failure
    /// marks the replica in error (the app's retry comes back to it) and leaves nothing made.</summary>
    public static async Task AttachAsync(ReconcileContext ctx, AppSpec spec, Replica r, RunOptions opts)
    {
        ReplicaAttachment? a;
        try
        {
            a = await ctx.Options.Networks.AttachAsync(spec, r.Name, ctx.Queue.Stopping).ConfigureAwait(false);
        }
        catch (NodeException e)
        {
            r.State = "error";
            r.LastError = e.Message;
            r.Address = null;
            throw;
        }
        r.Address = a?.Address.ToString();
        if (a is null) return;
        opts.Network = "ns:" + a.NetnsPath;
        opts.Dns = [a.Gateway.ToString()];
        opts.HostAddress = a.Address.ToString();
    }

    /// <summary>Removes a replica's network after its container (logged, never thrown: the removal goes on).</summary>
    public static async Task DetachAsync(ReconcileContext ctx, string replica)
    {
        try
        {
            await ctx.Options.Networks.DetachAsync(replica, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NodeException or Rt.RtException or KvException or IOException)
        {
            ctx.Log($"net: removing the network of {replica}: {e.Message}");
        }
    }

    /// <summary>At a full sync: what the existing replica containers need is made again, the rest removed.</summary>
    public static async Task RecoverAsync(ReconcileContext ctx, IReadOnlyList<HostContainer> labelled)
    {
        try
        {
            await ctx.Options.Networks.RecoverAsync([.. labelled.Select(c => c.Name)], ctx.Queue.Stopping).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NodeException or Rt.RtException or KvException or IOException)
        {
            ctx.Log($"net: recovering cluster networks: {e.Message}");
        }
    }

    /// <summary>The app's replicas in its cluster's DNS: the app name resolves to the running, not unhealthy ones.</summary>
    public static void Publish(IReplicaNetworks networks, AppInstance app)
    {
        var list = new List<ReplicaName>(app.Replicas.Count);
        foreach (var r in app.Replicas.Values)
            if (r.Address is not null)
                list.Add(new ReplicaName(r.Index, r.Name, r.State == "running" && r.Probe?.Status != "unhealthy"));
        networks.Publish(app.Name, list);
    }
}
