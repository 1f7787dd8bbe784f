using Tinyo.Api.Statefile;
using Tinyo.Node.Reconcile;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Processes;

namespace Tinyo.Node.Runtime;

/// <summary>
/// Everything the reconciler needs from the machine it runs containers on, and nothing more: the seam between the
/// node's decisions (<see cref="Reconcile.Reconciler"/>) and the runtime that carries them out. The real host
/// (<see cref="RtContainerHost"/>) runs Tinyo.Rt in-process as root; a fake one lets convergence, supervision and
/// re-adoption be tested in seconds without root or containers.
/// </summary>
/// <remarks>Calls come from the reconciler's single loop, except the callbacks, which the host may invoke on any
/// thread (the reconciler posts them back to its loop).</remarks>
public interface IContainerHost
{
    /// <summary>The image for <paramref name="image"/>, pulled when missing (registry mirrors first for docker.io).
    /// Throws <see cref="Rt.RtException"/> naming the problem.</summary>
    Task<HostImage> GetImageAsync(string image, CancellationToken ct);

    /// <summary>Every container on this host that carries the node's <see cref="ContainerSpec.AppLabel"/>.</summary>
    IReadOnlyList<HostContainer> Labelled();

    /// <summary>The container named <paramref name="name"/>, or null. A container whose state cannot be read (half
    /// made, half removed) is returned with status <see cref="HostContainer.Broken"/>.</summary>
    HostContainer? Find(string name);

    /// <summary>Creates and starts a detached container; returns it running. Throws <see cref="Rt.RtException"/>
    /// (leaving nothing behind) when it cannot.</summary>
    HostContainer Run(RunOptions options, HostImage image);

    /// <summary>
    /// Duplicates the running container <paramref name="source"/> into a new running one named
    /// <paramref name="options"/>' name: the source's image layers, spec, limits and files (its writable layer,
    /// copy-on-write) reused; the new one labelled with <paramref name="options"/>' annotations, with its hostname
    /// and per-replica mounts (the secrets directory) from <paramref name="options"/>. Throws
    /// <see cref="Rt.RtException"/> (leaving nothing behind, the source untouched) when it cannot.
    /// </summary>
    HostContainer Duplicate(string source, RunOptions options);

    /// <summary>Starts a stopped container again in place (same id, name, files). Throws <see cref="Rt.RtException"/>
    /// when it cannot, having removed it. <paramref name="stdin"/>, <paramref name="stdout"/>: a pipe's ends instead
    /// of /dev/null and the log (<c>stdin: {from:}</c>).</summary>
    HostContainer Restart(string id, int? stdin = null, int? stdout = null);

    /// <summary>
    /// The container's process ended: reap or record its exit (<paramref name="foreignStatus"/>: a wait status read
    /// from a pidfd when the process was not this node's child), release its cgroup, and return the recorded exit —
    /// the one source of exit codes — or null when unknown.
    /// </summary>
    ExitStatus? CollectExit(string id, (int Pid, int Status)? foreignStatus = null);

    /// <summary>Signals the container's process, or with <paramref name="all"/> every process in it (errors for a
    /// container that is gone are swallowed).</summary>
    void Kill(string id, int signal, bool all);

    /// <summary>SIGTERM, up to <paramref name="grace"/>, then SIGKILL; the exit is collected. Nothing to do when it
    /// is not running.</summary>
    Task StopAsync(string id, TimeSpan grace);

    /// <summary>Removes the container entirely (process, cgroup, files, its name or <paramref name="name"/>).
    /// Returns its name when known.</summary>
    string? Remove(string id, string? name);

    /// <summary>Removes what interrupted creates left (a state directory with no record, a name pointing nowhere);
    /// returns the ids removed.</summary>
    IReadOnlyList<string> RemoveOrphans();

    /// <summary>Calls <paramref name="exited"/> once process <paramref name="pid"/> has ended (at once when it is gone
    /// already), with its wait status when it was not this node's child and the kernel kept it. One watch per key.</summary>
    void WatchExit(string key, int pid, Action<int?> exited);

    /// <summary>Stops watching <paramref name="key"/> (no callback).</summary>
    void Unwatch(string key);

    /// <summary>Starts a healthcheck in the container: <paramref name="unhealthy"/> after <c>retries</c> failures in a
    /// row, <paramref name="changed"/> when its status changes. Dispose stops it.</summary>
    IHealthProbe StartProbe(string id, HealthcheckSpec check, Action unhealthy, Action changed);

    /// <summary>Writes exactly these secrets into the container's secrets directory (a tmpfs); returns the directory.</summary>
    string EnsureSecrets(string container, IReadOnlyList<(string Name, byte[] Value)> secrets);

    /// <summary>Unmounts and removes a container's secrets directory.</summary>
    void RemoveSecrets(string container);

    /// <summary>Containers that have a secrets directory.</summary>
    IReadOnlyList<string> SecretContainers();

    /// <summary>Each container's log file (for the size cap).</summary>
    IReadOnlyList<string> LogFiles();
}

/// <summary>An image ready to run; <see cref="Stored"/> is the runtime's own (null in a fake host).</summary>
/// <param name="Name">The name it was asked for.</param>
/// <param name="Stored">The runtime's image.</param>
public sealed record HostImage(string Name, Rt.Images.StoredImage? Stored);

/// <summary>A container as the host sees it.</summary>
/// <param name="Id">Container id.</param>
/// <param name="Name">Container name.</param>
/// <param name="Status"><c>running</c>, <c>stopped</c>, <c>created</c> or <see cref="Broken"/>.</param>
/// <param name="Pid">Host pid while running.</param>
/// <param name="Created">When it was created.</param>
/// <param name="Labels">Its annotations.</param>
public sealed record HostContainer(string Id, string Name, string Status, int Pid, DateTimeOffset Created, IReadOnlyDictionary<string, string> Labels)
{
    /// <summary>Status of a container whose state cannot be read.</summary>
    public const string Broken = "broken";

    /// <summary>The app label, or null.</summary>
    public string? App => Labels.TryGetValue(ContainerSpec.AppLabel, out var a) ? a : null;

    /// <summary>The spec-hash label, or null.</summary>
    public string? SpecHash => Labels.TryGetValue(ContainerSpec.SpecLabel, out var h) ? h : null;

    /// <summary>The replica index label, 0 when absent.</summary>
    public int Index => Labels.TryGetValue(ContainerSpec.ReplicaLabel, out var i)
        && int.TryParse(i, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 0;
}

/// <summary>A running healthcheck.</summary>
public interface IHealthProbe : IDisposable
{
    /// <summary>starting, healthy or unhealthy.</summary>
    string Status { get; }
}
