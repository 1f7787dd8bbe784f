using Tinyo.Api;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// One replica slot of an app, <c>APP-i</c>, as this node observes it. The container behind it may change (an
/// update replaces it; a restart keeps it, see <see cref="Rt.Containers.ImageContainers.Restart"/>). Touched only
/// by the reconciler's loop, except <see cref="Pid"/> which the port proxy reads.
/// </summary>
internal sealed class Replica(string app, int index)
{
    public string App { get; } = app;
    public int Index { get; } = index;
    public string Name { get; } = ContainerSpec.Name(app, index);

    /// <summary>The rt container id, null when none exists.</summary>
    public string? Id { get; set; }

    /// <summary>created, running, exited, restarting, error.</summary>
    public string State { get; set; } = "created";

    private volatile int pid;

    /// <summary>Host pid while running, else 0.</summary>
    public int Pid
    {
        get => pid;
        set => pid = value;
    }

    public int Restarts { get; set; }
    /// <summary>How the container last ended (code, signal, OOM kill), kept across restarts: why it restarted.</summary>
    public Rt.Processes.ExitStatus? LastExit { get; set; }
    public DateTimeOffset? Started { get; set; }
    public string? LastError { get; set; }

    /// <summary>Its address on its cluster's network, or null (network none or host).</summary>
    public string? Address { get; set; }
    public Backoff Backoff { get; } = new();

    /// <summary>Bumped whenever a scheduled restart becomes stale (the container was replaced or removed).</summary>
    public int Generation { get; set; }

    /// <summary>The replica this one's container was duplicated from (<see cref="ReplicaDuplicate"/>), or null.</summary>
    public string? DuplicatedFrom { get; set; }

    /// <summary>Its cluster's path for TCP between replicas on this node (shortcut or bridge), a live view; null
    /// without the direct network.</summary>
    public Direct.ClusterShortcuts.ClusterPath? DirectPath { get; set; }

    /// <summary>The Unix socket it exposes, as its cluster's containers reach it (<c>expose: unix</c>), or null.</summary>
    public string? Socket { get; set; }

    /// <summary>The running health probe, if the app has a healthcheck.</summary>
    public Runtime.IHealthProbe? Probe { get; set; }

    public ContainerStatus ToStatus()
        => new(Name, Id, State, Pid, Restarts, LastExit?.Code, Started, LastError, Probe?.Status,
            LastExit is { Signal: > 0 } e ? e.Signal : null, LastExit is { OomKilled: true } ? true : null, Address, DuplicatedFrom,
            Path: DirectPath?.ToString(), Socket: Socket);
}
