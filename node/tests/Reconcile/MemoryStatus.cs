using Tinyo.Api;
using Tinyo.Node.Reconcile;

namespace Tinyo.Node.Tests.Reconcile;

/// <summary>The reconciler's status sink kept in memory, for tests against the fake container host.</summary>
internal sealed class MemoryStatus : IStatusSink
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, AppStatus> apps = [];

    public void Set(string app, AppStatus s) { lock (gate) apps[app] = s; }
    public void Remove(string app) { lock (gate) apps.Remove(app); }
    public void Prune(HashSet<string> keep) { lock (gate) foreach (var k in apps.Keys.Where(k => !keep.Contains(k)).ToList()) apps.Remove(k); }
    public AppStatus? Of(string app) { lock (gate) return apps.GetValueOrDefault(app); }
}
