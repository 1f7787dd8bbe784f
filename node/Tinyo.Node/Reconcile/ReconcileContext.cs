using Tinyo.Node.Runtime;

namespace Tinyo.Node.Reconcile;

/// <summary>What convergence and supervision share: the apps this node runs, the host, the loop, the status sink.
/// Touched only from the <see cref="WorkQueue"/>'s loop.</summary>
internal sealed class ReconcileContext(ReconcilerOptions options, IContainerHost host, WorkQueue queue, IStatusSink status)
{
    public ReconcilerOptions Options => options;
    public IContainerHost Host => host;
    public WorkQueue Queue => queue;
    public Dictionary<string, AppInstance> Apps { get; } = new(StringComparer.Ordinal);

    /// <summary>Whether <paramref name="app"/> is still the live instance of its name (not removed or replaced).</summary>
    public bool IsCurrent(AppInstance app) => Apps.TryGetValue(app.Name, out var c) && c == app;

    public void Log(string line) => options.Log(line);

    /// <summary>Publishes an app's observed state.</summary>
    public void Publish(AppInstance app)
    {
        app.RefreshPids();
        ReplicaAddressing.Publish(options.Networks, app);
        status.Set(app.Name, app.ToStatus(options.Node));
    }

    public void Unpublish(string app)
    {
        options.Networks.Unpublish(app);
        status.Remove(app);
    }

    public void Prune(HashSet<string> apps) => status.Prune(apps);
}
