using Tinyo.Api.Statefile;
using Tinyo.Rt;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Network.Direct;

namespace Tinyo.Node.Direct;

/// <summary>
/// The node's side of the direct network's file paths (issue 15): each cluster's Unix socket directory, mounted at
/// <c>/run/tinyo/uds</c> in every container of that cluster on this node, and the shared memory regions
/// (<c>shm:</c>) bound at <c>/dev/shm/NAME</c> in the apps that list them. The objects themselves are the runtime's
/// (<see cref="ClusterSockets"/>, <see cref="SharedRegions"/>, made by <see cref="DirectInputs.For"/>); this class
/// decides which cluster an app is on, when they are made and when they go.
/// </summary>
/// <remarks>
/// <para>Roots are under the node's directory (<c>ROOT/run/uds</c>, <c>ROOT/run/shm</c>), not the runtime's default
/// <c>/run/tinyo</c>, so two nodes on one host (as in the tests) never share or remove each other's.</para>
/// <para>Lifetime: made (idempotently) before every replica is created or found, so a node restarted after
/// <c>tio down</c> or a kill -9 brings them back before a stopped container restarts in place; pruned
/// (<see cref="PruneAsync"/>) after every removal and full sync — a cluster no app of this node is on loses its directory
/// and regions, a region no app lists any more is unmounted; <see cref="Stop"/> removes everything when the node
/// stops. A region's bytes do not outlive the node's stop: it is shared memory, not storage.</para>
/// </remarks>
public sealed class DirectPaths
{
    private readonly Func<CancellationToken, Task<string?>> defaultNet;
    private readonly Action<string> log;

    /// <summary>The cluster each app was last prepared on (for the synchronous restart path).</summary>
    private readonly Dictionary<string, string> clusterOfApp = new(StringComparer.Ordinal);

    /// <summary>The socket file each exposing app was prepared with: removed when the app goes (its cluster may stay).</summary>
    private readonly Dictionary<string, (string Cluster, string File)> exposed = new(StringComparer.Ordinal);

    /// <summary>Paths under <paramref name="root"/> (the node's directory); <paramref name="defaultNet"/> names the
    /// cluster of an app without <c>net:</c> (the node's first).</summary>
    public DirectPaths(string root, Func<CancellationToken, Task<string?>> defaultNet, Action<string> log)
    {
        SocketRoot = Path.Combine(root, "run", "uds");
        ShmRoot = Path.Combine(root, "run", "shm");
        this.defaultNet = defaultNet;
        this.log = log;
    }

    /// <summary>Where the clusters' socket directories live on the host.</summary>
    public string SocketRoot { get; }

    /// <summary>Where the regions' tmpfs mounts live on the host.</summary>
    public string ShmRoot { get; }

    /// <summary>The cluster <paramref name="spec"/> is on: its <c>net:</c>, else the node's first.</summary>
    public async Task<string> ClusterOfAsync(AppSpec spec, CancellationToken ct)
        => spec.Net ?? await defaultNet(ct).ConfigureAwait(false)
           ?? throw new NodeException($"app {spec.Name}: the node has no cluster yet (tio ++ makes the first)");

    /// <summary>
    /// Makes what a replica of <paramref name="spec"/> needs — its cluster's socket directory, the regions it lists —
    /// and returns the mounts to add to its container. A region that exists with another size is made again at the
    /// new size when no other app in <paramref name="others"/> still lists it (an app's re-apply changed it).
    /// </summary>
    /// <exception cref="NodeException">A region of another size still used by another app, or the mount failed;
    /// nothing half-made is left (the runtime's <see cref="SharedRegions.Ensure"/> cleans its own failures).</exception>
    public async Task<List<BindMount>> PrepareAsync(AppSpec spec, IEnumerable<AppSpec> others, CancellationToken ct)
    {
        var cluster = await ClusterOfAsync(spec, ct).ConfigureAwait(false);
        clusterOfApp[spec.Name] = cluster;
        if (spec.UnixSocket is { } sock) exposed[spec.Name] = (cluster, sock);
        else exposed.Remove(spec.Name);
        try
        {
            return await PrepareAsync(spec, cluster, others, ct).ConfigureAwait(false);
        }
        catch (RtException e)
        {
            throw new NodeException($"app {spec.Name}: {e.Message}");
        }
    }

    private async Task<List<BindMount>> PrepareAsync(AppSpec spec, string cluster, IEnumerable<AppSpec> others, CancellationToken ct)
    {
        var regions = new List<RegionRequest>();
        foreach (var r in spec.Shm ?? [])
        {
            regions.Add(new RegionRequest(r.Name, r.SizeBytes));
            long pages = (r.SizeBytes + 4095) / 4096 * 4096;
            if (SharedRegions.CapacityOf(ShmRoot, cluster, r.Name) is not { } have || have == pages) continue;
            foreach (var o in others)
                if (o.Name != spec.Name && o.Shm is { } list && list.Any(x => x.Name == r.Name && x.SizeBytes != r.SizeBytes)
                    && (o.Net ?? await defaultNet(ct).ConfigureAwait(false)) == cluster)
                    throw new NodeException($"app {spec.Name}: shared memory region {r.Name} of cluster {cluster} is {have} bytes for app {o.Name}, not {r.SizeBytes}: apps sharing a region must give it one size");
            log($"direct: shared memory region {r.Name} of cluster {cluster} made again at {r.SizeBytes} bytes");
            SharedRegions.Remove(ShmRoot, cluster, r.Name);
        }
        return DirectInputs.For(cluster, regions, SocketRoot, ShmRoot);
    }

    /// <summary>
    /// Before a replica of an exposing app starts (new or restarted): its socket file from a previous run is removed,
    /// so its bind(2) does not fail with EADDRINUSE. A socket is one process's: <c>expose:</c> needs replicas: 1.
    /// </summary>
    public void BeforeStart(AppSpec spec)
    {
        if (spec.UnixSocket is not { } file || !clusterOfApp.TryGetValue(spec.Name, out var cluster)) return;
        try
        {
            File.Delete(ClusterSockets.SocketPath(SocketRoot, cluster, file));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or RtException)
        {
            log($"direct: removing the old socket {file} of app {spec.Name}: {e.Message}");
        }
    }

    /// <summary>
    /// Removes what no app of <paramref name="apps"/> (every app this node has) uses: the socket directory and regions
    /// of a cluster none is on, each region none lists. Logged, never thrown: removal of the rest goes on.
    /// </summary>
    public async Task PruneAsync(IEnumerable<AppSpec> apps, CancellationToken ct)
    {
        var used = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var a in apps)
        {
            string cluster;
            try { cluster = await ClusterOfAsync(a, ct).ConfigureAwait(false); }
            catch (Exception e) when (e is NodeException or Kv.KvException) { return; } // unknown: remove nothing
            if (!used.TryGetValue(cluster, out var set)) used[cluster] = set = new HashSet<string>(StringComparer.Ordinal);
            foreach (var r in a.Shm ?? []) set.Add(r.Name);
        }
        foreach (var name in clusterOfApp.Keys.Where(k => !apps.Any(a => a.Name == k)).ToList()) clusterOfApp.Remove(name);
        foreach (var (name, (cluster, file)) in exposed.Where(e => !apps.Any(a => a.Name == e.Key)).ToList())
        {
            exposed.Remove(name);
            Try($"the socket {file} of removed app {name}", () => File.Delete(ClusterSockets.SocketPath(SocketRoot, cluster, file)));
        }
        foreach (var dir in Subdirectories(SocketRoot))
            if (!used.ContainsKey(dir)) Try($"the socket directory of cluster {dir}", () => ClusterSockets.Remove(SocketRoot, dir));
        foreach (var cluster in Subdirectories(ShmRoot))
        {
            if (!used.TryGetValue(cluster, out var regions))
            {
                Try($"the shared memory regions of cluster {cluster}", () => SharedRegions.RemoveCluster(ShmRoot, cluster));
                continue;
            }
            foreach (var region in Subdirectories(Path.Combine(ShmRoot, cluster)))
                if (!regions.Contains(region)) Try($"shared memory region {region} of cluster {cluster}", () => SharedRegions.Remove(ShmRoot, cluster, region));
        }
    }

    /// <summary>The node stops: every socket directory and region removed (containers are stopped by then).</summary>
    public void Stop()
    {
        foreach (var dir in Subdirectories(SocketRoot)) Try($"the socket directory of cluster {dir}", () => ClusterSockets.Remove(SocketRoot, dir));
        foreach (var cluster in Subdirectories(ShmRoot)) Try($"the shared memory regions of cluster {cluster}", () => SharedRegions.RemoveCluster(ShmRoot, cluster));
        clusterOfApp.Clear();
        exposed.Clear();
    }

    private void Try(string what, Action remove)
    {
        try
        {
            remove();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or RtException)
        {
            log($"direct: removing {what}: {e.Message}");
        }
    }

    private static IEnumerable<string> Subdirectories(string dir)
        => Directory.Exists(dir) ? Directory.GetDirectories(dir).Select(Path.GetFileName).OfType<string>() : [];
}
