using Tinyo.Api;
using Tinyo.Api.Statefile;

namespace Tinyo.Node.Reconcile;

/// <summary>An app this node runs: its desired spec, its replicas and published ports.</summary>
internal sealed class AppInstance(string name)
{
    public string Name { get; } = name;
    public AppSpec? Spec { get; set; }
    public string Hash { get; set; } = "";

    /// <summary>An app-level problem (image, mount source, port, secret): shown as state <c>error</c>.</summary>
    public string? Error { get; set; }

    /// <summary>pulling while the image is fetched, else null.</summary>
    public string? Phase { get; set; }

    public SortedDictionary<int, Replica> Replicas { get; } = [];

    /// <summary>When the current convergence pass began: replicas started in it are not duplicated from (they may
    /// still be starting up), so a first apply starts every replica from the image and a later scale-up duplicates.</summary>
    public DateTimeOffset ConvergeStarted { get; set; }
    public Backoff RetryBackoff { get; } = new();
    public int RetryGeneration { get; set; }

    /// <summary>Published ports and the spec hash they were published for.</summary>
    public List<IDisposable> PortHandles { get; } = [];
    public string? PortsHash { get; set; }

    private volatile int[] pids = [];
    private volatile PortUpstream[] upstreams = [];

    /// <summary>Pids of the running replicas (read by the port proxy from its own threads).</summary>
    public IReadOnlyList<int> RunningPids() => pids;

    /// <summary>The running replicas as the port proxy reaches them: pid and cluster address (read from its threads).</summary>
    public IReadOnlyList<PortUpstream> RunningUpstreams() => upstreams;

    public Replica Replica(int index)
    {
        if (!Replicas.TryGetValue(index, out var r)) Replicas[index] = r = new Replica(Name, index);
        return r;
    }

    /// <summary>Refreshes <see cref="RunningPids"/> after replica states changed.</summary>
    public void RefreshPids()
    {
        var running = Replicas.Values.Where(r => r.State == "running" && r.Pid > 0).ToList();
        pids = [.. running.Select(r => r.Pid)];
        upstreams = [.. running.Select(r => new PortUpstream(r.Pid, r.Address is { } a && System.Net.IPAddress.TryParse(a, out var ip) ? ip : null))];
    }

    public string State
    {
        get
        {
            if (Error is not null) return "error";
            if (Phase is not null) return Phase;
            if (Replicas.Count == 0) return "pending";
            var states = Replicas.Values.Select(r => r.State).ToList();
            if (states.TrueForAll(s => s == "running")) return "running";
            if (states.Contains("restarting")) return "restarting";
            if (states.TrueForAll(s => s == "exited")) return "exited";
            if (states.Contains("error")) return "error";
            return "starting";
        }
    }

    public AppStatus ToStatus(string node)
        => new(Name, node, Hash, State, Error ?? Replicas.Values.Select(r => r.LastError).FirstOrDefault(e => e is not null && State == "error"),
            [.. Replicas.Values.Select(r => r.ToStatus())], DateTimeOffset.UtcNow);
}
