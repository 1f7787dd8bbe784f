using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Network.Direct;

/// <summary>One shared memory region a container lists: its name and size.</summary>
public readonly record struct RegionRequest(string Name, long SizeBytes);

/// <summary>
/// The direct paths' part of one container's plan: the mounts to add to its <see cref="RunOptions.Volumes"/>. This is
/// the one call the node's reconciler makes per container (<see cref="For"/>); the cluster-wide objects are made once
/// per cluster and node (<see cref="ClusterSockets.Ensure"/>, <see cref="SharedRegions.Ensure"/>,
/// <see cref="SockmapShortcut.TryAttach"/>) and removed with the cluster (<see cref="RemoveCluster"/>).
/// </summary>
public static class DirectInputs
{
    /// <summary>
    /// Makes what a container of <paramref name="cluster"/> needs (idempotent: the cluster's socket directory, the
    /// regions it lists) and returns the bind mounts to add to it: the cluster's sockets at /run/tinyo/uds, each
    /// region at /dev/shm/NAME. Roots default to <see cref="ClusterSockets.HostRoot"/> and <see cref="SharedRegions.HostRoot"/>.
    /// </summary>
    public static List<BindMount> For(string cluster, IReadOnlyList<RegionRequest> regions, string? socketRoot = null, string? shmRoot = null)
    {
        socketRoot ??= ClusterSockets.HostRoot;
        shmRoot ??= SharedRegions.HostRoot;
        ClusterSockets.Ensure(socketRoot, cluster);
        var mounts = new List<BindMount>(1 + regions.Count) { ClusterSockets.MountFor(socketRoot, cluster) };
        foreach (var r in regions)
        {
            SharedRegions.Ensure(shmRoot, cluster, r.Name, r.SizeBytes);
            mounts.Add(SharedRegions.MountFor(shmRoot, cluster, r.Name));
        }
        return mounts;
    }

    /// <summary>Removes the cluster's socket directory (and socket files) and its regions; call after its containers are gone.</summary>
    public static void RemoveCluster(string cluster, string? socketRoot = null, string? shmRoot = null)
    {
        ClusterSockets.Remove(socketRoot ?? ClusterSockets.HostRoot, cluster);
        SharedRegions.RemoveCluster(shmRoot ?? SharedRegions.HostRoot, cluster);
    }
}
