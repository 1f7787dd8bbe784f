using Tinyo.Api;

namespace Tinyo.Node.Reconcile;

/// <summary>Where the reconciler publishes what it observes (<see cref="StatusWriter"/> writes it to the KV; tests
/// keep it in memory). Calls never block on the store.</summary>
public interface IStatusSink
{
    /// <summary>The latest status of an app.</summary>
    void Set(string app, AppStatus status);

    /// <summary>The app is gone from this node.</summary>
    void Remove(string app);

    /// <summary>Deletes the status of every app not in <paramref name="apps"/> (removed while the node was down).</summary>
    void Prune(HashSet<string> apps);
}
