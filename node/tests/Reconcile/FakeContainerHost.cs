using Tinyo.Api.Statefile;
using Tinyo.Node.Reconcile;
using Tinyo.Node.Runtime;
using Tinyo.Rt;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Processes;

namespace Tinyo.Node.Tests.Reconcile;

/// <summary>
/// An <see cref="IContainerHost"/> in memory: containers are records, processes are numbers, exits happen when a
/// test says so. What the reconciler asked for is recorded (runs, restarts, kills, removals) for the tests to check.
/// </summary>
internal sealed class FakeContainerHost : IContainerHost
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, Fake> byId = [];
    private readonly Dictionary<string, (int Pid, Action<int?> Exited)> watches = [];
    private readonly Dictionary<string, List<string>> secrets = [];
    private int nextPid = 1000, nextId;

    public sealed class Fake
    {
        public required string Id { get; init; }
        public required string Name { get; init; }
        public required Dictionary<string, string> Labels { get; init; }
        public RunOptions? Options { get; init; }
        public string Status { get; set; } = "running";
        public int Pid { get; set; }
        public ExitStatus? Exit { get; set; }
        public bool Incomplete { get; init; }
        public FakeProbe? Probe { get; set; }
    }

    public sealed class FakeProbe(Action unhealthy) : IHealthProbe
    {
        public string Status { get; private set; } = "starting";
        public bool Disposed { get; private set; }
        public void FailAll()
        {
            Status = "unhealthy";
            unhealthy();
        }
        public void Dispose() => Disposed = true;
    }

    /// <summary>Every call the reconciler made, in order ("run web-1", "restart web-1", "kill web-1 9", ...).</summary>
    public List<string> Calls { get; } = [];
    public HashSet<string> MissingImages { get; } = [];
    public string? FailRunWith { get; set; }

    public IReadOnlyList<string> CallsOf(string verb)
    {
        lock (gate) return [.. Calls.Where(c => c.StartsWith(verb + " ", StringComparison.Ordinal))];
    }

    public Fake? ByName(string name)
    {
        lock (gate) return byId.Values.FirstOrDefault(f => f.Name == name);
    }

    public List<Fake> All()
    {
        lock (gate) return [.. byId.Values];
    }

    /// <summary>A container as a previous node process left it (for re-adoption).</summary>
    public Fake Add(string name, Dictionary<string, string> labels, string status = "running", ExitStatus? exit = null, bool incomplete = false)
    {
        lock (gate)
        {
            var f = new Fake { Id = NewId(), Name = name, Labels = labels, Status = status, Pid = status == "running" ? ++nextPid : 0, Exit = exit, Incomplete = incomplete };
            byId[f.Id] = f;
            return f;
        }
    }

    /// <summary>The container's process ends as given; the watch (if any) is told.</summary>
    public void ExitProcess(string name, int code, int signal = 0, bool oom = false)
    {
        Action<int?>? cb = null;
        lock (gate)
        {
            var f = byId.Values.Single(x => x.Name == name);
            if (f.Status != "running") return;
            f.Status = "stopped";
            f.Exit = new ExitStatus(code, signal, oom);
            if (watches.Remove(name, out var w) && w.Pid == f.Pid) cb = w.Exited;
            f.Pid = 0;
        }
        if (cb is not null) ThreadPool.QueueUserWorkItem(_ => cb(null));
    }

    private string NewId() => (++nextId).ToString("x12", System.Globalization.CultureInfo.InvariantCulture);

    private static HostContainer View(Fake f) => new(f.Id, f.Name, f.Status, f.Pid, DateTimeOffset.UtcNow, f.Labels);

    public Task<HostImage> GetImageAsync(string image, CancellationToken ct)
    {
        lock (gate) Calls.Add("image " + image);
        if (MissingImages.Contains(image)) throw new RtException($"image {image} could not be pulled: not found");
        return Task.FromResult(new HostImage(image, null));
    }

    public IReadOnlyList<HostContainer> Labelled()
    {
        lock (gate) return [.. byId.Values.Where(f => !f.Incomplete && f.Labels.ContainsKey(ContainerSpec.AppLabel)).Select(View)];
    }

    public HostContainer? Find(string name)
    {
        lock (gate)
            return byId.Values.FirstOrDefault(f => f.Name == name) is { } f
                ? f.Incomplete ? new HostContainer(f.Id, name, HostContainer.Broken, 0, default, new Dictionary<string, string>()) : View(f)
                : null;
    }

    public HostContainer Run(RunOptions options, HostImage image)
    {
        lock (gate)
        {
            Calls.Add("run " + options.Name);
            if (FailRunWith is { } why) throw new RtException(why);
            if (byId.Values.Any(f => f.Name == options.Name)) throw new RtException($"the container name \"{options.Name}\" is already in use");
            var f = new Fake { Id = NewId(), Name = options.Name!, Labels = new(options.Annotations), Options = options, Pid = ++nextPid };
            byId[f.Id] = f;
            return View(f);
        }
    }

    /// <summary>Makes <see cref="Duplicate"/> fail (the runtime refused it): the reconciler must fall back to a run.</summary>
    public string? FailDuplicateWith { get; set; }

    public HostContainer Duplicate(string source, RunOptions options)
    {
        lock (gate)
        {
            Calls.Add($"dup {source} {options.Name}");
            if (FailDuplicateWith is { } why) throw new RtException(why);
            if (byId.Values.FirstOrDefault(f => f.Name == source) is not { Status: "running" })
                throw new RtException($"container {source} is not running: only a running container can be duplicated");
            if (byId.Values.Any(f => f.Name == options.Name)) throw new RtException($"the container name \"{options.Name}\" is already in use");
            var labels = new Dictionary<string, string>(options.Annotations) { [Rt.Duplicate.ContainerDuplicator.SourceAnnotation] = source };
            var f = new Fake { Id = NewId(), Name = options.Name!, Labels = labels, Options = options, Pid = ++nextPid };
            byId[f.Id] = f;
            return View(f);
        }
    }

    public HostContainer Restart(string id, int? stdin = null, int? stdout = null)
    {
        lock (gate)
        {
            var f = byId[id];
            Calls.Add("restart " + f.Name);
            if (f.Status != "stopped") throw new RtException($"container {id} is {f.Status}, not stopped");
            f.Status = "running";
            f.Pid = ++nextPid;
            f.Exit = null;
            return View(f);
        }
    }

    public ExitStatus? CollectExit(string id, (int Pid, int Status)? foreignStatus = null)
    {
        lock (gate) return byId.TryGetValue(id, out var f) ? f.Exit : null;
    }

    public void Kill(string id, int signal, bool all)
    {
        string? name;
        lock (gate)
        {
            if (!byId.TryGetValue(id, out var f)) return;
            Calls.Add($"kill {f.Name} {signal}");
            name = f.Name;
        }
        ExitProcess(name, 128 + signal, signal);
    }

    public Task StopAsync(string id, TimeSpan grace)
    {
        string? name;
        lock (gate)
        {
            if (!byId.TryGetValue(id, out var f) || f.Status != "running") return Task.CompletedTask;
            Calls.Add("stop " + f.Name);
            name = f.Name;
        }
        ExitProcess(name, 143, 15);
        return Task.CompletedTask;
    }

    public string? Remove(string id, string? name)
    {
        lock (gate)
        {
            if (!byId.Remove(id, out var f)) return name;
            Calls.Add("remove " + f.Name);
            return f.Name;
        }
    }

    public IReadOnlyList<string> RemoveOrphans()
    {
        lock (gate)
        {
            var ids = byId.Values.Where(f => f.Incomplete).Select(f => f.Id).ToList();
            foreach (var id in ids)
            {
                Calls.Add("orphan " + byId[id].Name);
                byId.Remove(id);
            }
            return ids;
        }
    }

    public void WatchExit(string key, int pid, Action<int?> exited)
    {
        bool gone;
        lock (gate)
        {
            gone = !byId.Values.Any(f => f.Name == key && f.Pid == pid && f.Status == "running");
            if (!gone) watches[key] = (pid, exited);
        }
        if (gone) ThreadPool.QueueUserWorkItem(_ => exited(null));
    }

    public void Unwatch(string key)
    {
        lock (gate) watches.Remove(key);
    }

    public IHealthProbe StartProbe(string id, HealthcheckSpec check, Action unhealthy, Action changed)
    {
        lock (gate)
        {
            var p = new FakeProbe(unhealthy);
            byId[id].Probe = p;
            return p;
        }
    }

    public string EnsureSecrets(string container, IReadOnlyList<(string Name, byte[] Value)> values)
    {
        lock (gate) secrets[container] = [.. values.Select(v => v.Name)];
        return "/fake/secrets/" + container;
    }

    public void RemoveSecrets(string container)
    {
        lock (gate) secrets.Remove(container);
    }

    public IReadOnlyList<string> SecretContainers()
    {
        lock (gate) return [.. secrets.Keys];
    }

    public IReadOnlyList<string> LogFiles() => [];
}
