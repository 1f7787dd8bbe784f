using System.Net;

namespace Tinyo.Node.Network;

/// <summary>One replica of an app as the DNS responder sees it.</summary>
/// <param name="Index">N of NAME-N.</param>
/// <param name="Address">Its cluster address.</param>
/// <param name="Healthy">Whether the app name should resolve to it (the node feeds health check results).</param>
public sealed record DnsReplica(int Index, IPAddress Address, bool Healthy);

/// <summary>
/// The names of one cluster, fed by the node: each app's replicas. <c>APP</c> resolves to every healthy replica,
/// rotated by one per query (round robin: clients that take the first address spread over the replicas);
/// <c>APP-N</c> resolves to replica N whatever its health (it names one container). An app whose name equals another
/// app's replica name (an app "web-1" beside app "web") wins. Names compare case-insensitively. Thread-safe: the
/// table is swapped whole, queries read a snapshot.
/// </summary>
public sealed class DnsNameTable
{
    private sealed record Entry(IPAddress[] Addresses)
    {
        public int Turn;
    }

    private volatile Dictionary<string, Entry> names = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, IReadOnlyList<DnsReplica>> apps = new(StringComparer.OrdinalIgnoreCase);
    private Dictionary<string, IReadOnlyList<DnsReplica>> remote = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock gate = new();

    /// <summary>Sets (or replaces) the replicas of <paramref name="app"/>; an empty list removes it.</summary>
    public void SetApp(string app, IReadOnlyList<DnsReplica> replicas)
    {
        lock (gate)
        {
            if (replicas.Count == 0) apps.Remove(app);
            else apps[app] = replicas.ToArray();
            Rebuild();
        }
    }

    /// <summary>
    /// Replaces the replicas this cluster has on other nodes (the overlay's view of their status records). The app
    /// name gives this node's healthy replicas and the other nodes' together; <c>APP-N</c> is this node's replica N
    /// when there is one (every node may run its own replica N), else another node's.
    /// </summary>
    public void SetRemote(IReadOnlyDictionary<string, List<DnsReplica>> replicas)
    {
        lock (gate)
        {
            var d = new Dictionary<string, IReadOnlyList<DnsReplica>>(StringComparer.OrdinalIgnoreCase);
            foreach (var (app, reps) in replicas)
                if (reps.Count > 0) d[app] = reps.ToArray();
            remote = d;
            Rebuild();
        }
    }

    /// <summary>Removes an app.</summary>
    public void RemoveApp(string app) => SetApp(app, []);

    /// <summary>
    /// The addresses of <paramref name="name"/> (one label, no dot), rotated for round robin; null when the cluster
    /// has no such name (NXDOMAIN). An app with no healthy replica gives an empty list (the name exists).
    /// <paramref name="rotate"/> false reads without turning (a resolver asks A and AAAA for every look-up: only the
    /// A question turns the rotation, else two replicas would come back in the same order every time).
    /// </summary>
    public IPAddress[]? Lookup(string name, bool rotate = true)
    {
        if (!names.TryGetValue(name, out var e)) return null;
        var a = e.Addresses;
        if (a.Length <= 1 || !rotate) return a;
        int turn = (int)((uint)Interlocked.Increment(ref e.Turn) % (uint)a.Length);
        var r = new IPAddress[a.Length];
        for (int i = 0; i < a.Length; i++) r[i] = a[(i + turn) % a.Length];
        return r;
    }

    private void Rebuild()
    {
        var d = new Dictionary<string, Entry>(StringComparer.OrdinalIgnoreCase);
        foreach (var (app, reps) in remote)
            foreach (var r in reps.OrderBy(r => r.Address.ToString(), StringComparer.Ordinal))
                d.TryAdd($"{app}-{r.Index}", new Entry([r.Address]));
        foreach (var (app, reps) in apps)
            foreach (var r in reps)
                d[$"{app}-{r.Index}"] = new Entry([r.Address]);
        foreach (var (app, reps) in apps)
            d[app] = new Entry(reps.Where(r => r.Healthy).OrderBy(r => r.Index).Select(r => r.Address).ToArray());
        foreach (var (app, reps) in remote)
        {
            var far = reps.Where(r => r.Healthy).OrderBy(r => r.Index).Select(r => r.Address);
            d[app] = new Entry([.. (d.TryGetValue(app, out var near) && apps.ContainsKey(app) ? near.Addresses : []).Concat(far).Distinct()]);
        }
        names = d;
    }
}
