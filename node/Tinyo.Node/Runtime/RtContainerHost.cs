using System.Globalization;
using Tinyo.Api.Statefile;
using Tinyo.Node.Reconcile;
using Tinyo.Rt;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Images;
using Tinyo.Rt.Processes;

namespace Tinyo.Node.Runtime;

/// <summary>
/// The real <see cref="IContainerHost"/>: Tinyo.Rt in-process over the node's runtime root (<c>ROOT/rt</c>), a
/// pidfd watcher for exits, secrets on per-container tmpfs mounts, and the one find-or-pull
/// (<see cref="ImageSource"/>) with the node's registry mirrors.
/// </summary>
public sealed class RtContainerHost : IContainerHost, IDisposable
{
    private readonly RuntimeRoot root;
    private readonly ContainerRuntime rt;
    private readonly ImageContainers ic;
    private readonly ImageSource images;
    private readonly SecretFiles secrets;
    private readonly ContainerWatcher watcher = new();

    /// <summary>A host over <paramref name="runtime"/>; <paramref name="mirrors"/> is asked for the registry mirrors
    /// at every pull (the KV setting may change).</summary>
    public RtContainerHost(ContainerRuntime runtime, string secretsDir, Func<CancellationToken, Task<IReadOnlyList<string>>> mirrors, bool offline, Action<string> log)
    {
        rt = runtime;
        root = runtime.Root;
        ic = new ImageContainers(rt);
        images = new ImageSource(new ImageStore(root), mirrors, offline, log);
        secrets = new SecretFiles(secretsDir);
    }

    /// <inheritdoc/>
    public async Task<HostImage> GetImageAsync(string image, CancellationToken ct)
        => new(image, await images.GetAsync(image, ct).ConfigureAwait(false));

    /// <inheritdoc/>
    public IReadOnlyList<HostContainer> Labelled()
    {
        var l = new List<HostContainer>();
        foreach (var s in rt.List())
            if (s.Annotations is { } a && a.ContainsKey(ContainerSpec.AppLabel))
                l.Add(new HostContainer(s.Id, ic.Info(s.Id)?.Name ?? "", s.Status, s.Pid, ParseCreated(s.Created), a));
        return l;
    }

    /// <inheritdoc/>
    public HostContainer? Find(string name)
    {
        var id = ContainerNames.Lookup(root, name);
        if (id is null) return null;
        try
        {
            return Of(id, name);
        }
        catch (RtException)
        {
            return new HostContainer(id, name, HostContainer.Broken, 0, default, new Dictionary<string, string>());
        }
    }

    private HostContainer Of(string id, string name)
    {
        var st = rt.State(id);
        return new HostContainer(id, name, st.Status, st.Status == "running" ? st.Pid : 0, ParseCreated(st.Created),
            st.Annotations ?? new Dictionary<string, string>());
    }

    /// <inheritdoc/>
    public HostContainer Run(RunOptions options, HostImage image)
    {
        var started = ic.Run(options, image.Stored ?? throw new RtException($"image {image.Name} is not in the store"));
        return Of(started.Id, started.Name);
    }

    /// <inheritdoc/>
    public HostContainer Duplicate(string source, RunOptions options)
    {
        var name = options.Name ?? throw new RtException("a duplicate needs a name");
        var result = new Rt.Duplicate.ContainerDuplicator(ic).Duplicate(new Rt.Duplicate.DuplicateRequest
        {
            Source = source, Names = [name], Adjust = (_, spec) => ReplicaDuplicate.Adjust(spec, options),
            Dns = options.Dns, HostAddress = options.HostAddress,
        });
        return Of(result.Clones[0].Id, name);
    }

    /// <inheritdoc/>
    public HostContainer Restart(string id, int? stdin = null, int? stdout = null)
    {
        ic.Restart(id, stdin, stdout);
        return Of(id, ic.Info(id)?.Name ?? "");
    }

    /// <inheritdoc/>
    public ExitStatus? CollectExit(string id, (int Pid, int Status)? foreignStatus = null) => rt.CollectExit(id, foreignStatus);

    /// <inheritdoc/>
    public void Kill(string id, int signal, bool all)
    {
        try { rt.Kill(id, signal, all); }
        catch (RtException) { } // gone already
    }

    /// <inheritdoc/>
    public async Task StopAsync(string id, TimeSpan grace)
    {
        try
        {
            if (rt.State(id).Status != "running") return;
            rt.Kill(id, 15);
            if (!await Task.Run(() => ic.WaitStopped(id, grace)).ConfigureAwait(false)) rt.Kill(id, 9, all: true);
            await Task.Run(() => ic.WaitStopped(id, TimeSpan.FromSeconds(5))).ConfigureAwait(false);
            rt.CollectExit(id);
        }
        catch (RtException)
        {
            // gone already
        }
    }

    /// <inheritdoc/>
    public string? Remove(string id, string? name)
    {
        name ??= ic.Info(id)?.Name;
        ic.Remove(id, force: true);
        // A container without image.json (its create was interrupted) does not release its name itself.
        if (name is not null) ContainerNames.Release(root, name, id);
        return name;
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> RemoveOrphans()
    {
        var removed = ic.RemoveIncomplete();
        foreach (var c in secrets.Containers().ToList())
            if (ContainerNames.Lookup(root, c) is null) secrets.Remove(c);
        return removed;
    }

    /// <inheritdoc/>
    public void WatchExit(string key, int pid, Action<int?> exited) => watcher.Watch(key, pid, exited);

    /// <inheritdoc/>
    public void Unwatch(string key) => watcher.Unwatch(key);

    /// <inheritdoc/>
    public IHealthProbe StartProbe(string id, HealthcheckSpec check, Action unhealthy, Action changed)
        => new HealthProbe(root, id, check, unhealthy, changed);

    /// <inheritdoc/>
    public string EnsureSecrets(string container, IReadOnlyList<(string Name, byte[] Value)> values) => secrets.Ensure(container, values);

    /// <inheritdoc/>
    public void RemoveSecrets(string container) => secrets.Remove(container);

    /// <inheritdoc/>
    public IReadOnlyList<string> SecretContainers() => [.. secrets.Containers()];

    /// <inheritdoc/>
    public IReadOnlyList<string> LogFiles() => [.. rt.List().Select(s => ic.LogFile(s.Id))];

    /// <summary>Stops the exit watcher.</summary>
    public void Dispose() => watcher.Dispose();

    private static DateTimeOffset ParseCreated(string created)
    {
        if (created.Length > 27) created = created[..27] + "Z";
        return DateTimeOffset.TryParse(created, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : DateTimeOffset.UtcNow;
    }
}
