using System.Security.Cryptography;
using System.Text;
using Tinyo.Api.Statefile;
using Tinyo.Node.Runtime;
using Tinyo.Rt;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// Convergence: desired apps against the containers the host has, turned into actions — pull, check ports, write
/// secrets, create what is missing, replace what has another spec hash, keep what matches (also after a node
/// restart: re-adoption), scale down, remove apps that are gone. Replica i of app A is the container <c>A-i</c>,
/// labelled with the app, the spec's hash (<see cref="SpecHash"/>) and i. An app-level failure (image, mount
/// source, port, secret) is shown as state <c>error</c> and retried with back-off (at least 1 s).
/// </summary>
internal sealed class Convergence(ReconcileContext ctx, ISecretSource secretSource, ReplicaSupervisor supervisor) : IDesiredState
{
    private IContainerHost Host => ctx.Host;
    private ReconcilerOptions O => ctx.Options;

    /// <summary>Failed pulls back off per image (2 s doubling to 2 min), so a pull that fills the disk is not retried at once.</summary>
    private readonly PullBackoff pulls = new();

    /// <summary>The pull in progress per app, cancelled by <see cref="CancelPull"/> (`tio -` while it runs).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CancellationTokenSource> pulling = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public void CancelPull(string name)
    {
        if (!pulling.TryGetValue(name, out var cts)) return;
        try { cts.Cancel(); }
        catch (ObjectDisposedException) { } // the pull ended meanwhile
    }

    /// <inheritdoc/>
    public async Task SyncAllAsync(Dictionary<string, AppSpec> desired)
    {
        foreach (var name in ctx.Apps.Keys.Where(n => !desired.ContainsKey(n)).ToList())
            await RemoveAppAsync(name).ConfigureAwait(false);
        // Leftovers of creates interrupted by a kill -9 of the node: nothing else would ever remove them.
        foreach (var id in Host.RemoveOrphans()) ctx.Log($"reconcile: removed {id}, left incomplete by an interrupted create");
        foreach (var c in Host.Labelled())
            if (!desired.ContainsKey(c.App!))
            {
                ctx.Log($"reconcile: removing container {c.Id} of app {c.App}, which no longer exists");
                await StopAndRemoveAsync(c.Id, null).ConfigureAwait(false);
            }
        foreach (var c in Host.SecretContainers())
            if (Host.Find(c) is null) Host.RemoveSecrets(c);
        await ReplicaAddressing.RecoverAsync(ctx, Host.Labelled()).ConfigureAwait(false);
        foreach (var (name, spec) in desired) await ApplyAsync(name, spec).ConfigureAwait(false);
        ctx.Prune([.. desired.Keys]);
        await DirectWiring.PruneAsync(ctx).ConfigureAwait(false); // also what a kill -9 left of removed apps
    }

    /// <inheritdoc/>
    public async Task ApplyAsync(string name, AppSpec spec)
    {
        if (!ctx.Apps.TryGetValue(name, out var app)) ctx.Apps[name] = app = new AppInstance(name);
        var hash = SpecHash.Of(spec);
        if (app.Hash != hash)
        {
            app.RetryBackoff.Clear();
            foreach (var r in app.Replicas.Values) r.Backoff.Clear();
        }
        app.Spec = spec;
        app.Hash = hash;
        app.RetryGeneration++;
        await ConvergeAsync(app).ConfigureAwait(false);
    }

    /// <summary>Brings one app's containers to its spec.</summary>
    public async Task ConvergeAsync(AppInstance app)
    {
        var spec = app.Spec!;
        app.ConvergeStarted = DateTimeOffset.UtcNow;
        if (O.Placement is { } placement)
        {
            // Many nodes: only the replicas assigned here run here; a copy of one assigned elsewhere (moved away while
            // this node was lost, or drained) is stopped. Until the assignments are known nothing changes.
            if (!placement.Known) return;
            await DropUnownedAsync(app, placement).ConfigureAwait(false);
            if (!Enumerable.Range(1, spec.Replicas).Any(i => placement.Owns(app.Name, i)))
            {
                foreach (var h in app.PortHandles) h.Dispose();
                app.PortHandles.Clear();
                app.PortsHash = null;
                app.Error = null;
                ctx.Unpublish(app.Name);
                return;
            }
        }
        try
        {
            app.Error = null;
            HostImage img;
            app.Phase = "pulling";
            ctx.Publish(app);
            using var pullCancel = CancellationTokenSource.CreateLinkedTokenSource(ctx.Queue.Stopping);
            pulling[app.Name] = pullCancel;
            try
            {
                img = await pulls.RunAsync(spec.Image, t => Host.GetImageAsync(spec.Image, t), pullCancel.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ctx.Queue.Stopping.IsCancellationRequested)
            {
                return; // the app was removed while it pulled: its removal is queued behind us
            }
            finally
            {
                app.Phase = null;
                pulling.TryRemove(new KeyValuePair<string, CancellationTokenSource>(app.Name, pullCancel));
            }
            if (!ctx.IsCurrent(app) || app.Spec != spec) return; // changed meanwhile
            O.Ports.Check(app.Name, spec.Ports);
            var (secretValues, secretEnv) = await SecretsAsync(spec).ConfigureAwait(false);
            try
            {
                for (int i = 1; i <= spec.Replicas; i++)
                    if (O.Placement?.Owns(app.Name, i) ?? true)
                        await EnsureReplicaAsync(app, app.Replica(i), img, secretValues, secretEnv).ConfigureAwait(false);
            }
            finally
            {
                foreach (var (_, v) in secretValues) CryptographicOperations.ZeroMemory(v);
            }
            // Scale down: replicas above the count, by label (also ones left from before a restart of the node).
            foreach (var c in Host.Labelled())
                if (c.App == app.Name && c.Index > spec.Replicas)
                    await StopAndRemoveAsync(c.Id, ContainerSpec.Name(app.Name, c.Index)).ConfigureAwait(false);
            foreach (var k in app.Replicas.Keys.Where(k => k > spec.Replicas).ToList())
            {
                supervisor.Forget(app.Replicas[k]);
                app.Replicas.Remove(k);
            }
            PublishPorts(app);
            app.RetryBackoff.Clear();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            app.Error = e.Message;
            var delay = app.RetryBackoff.Next(TimeSpan.Zero);
            if (delay < TimeSpan.FromSeconds(1)) delay = TimeSpan.FromSeconds(1);
            if (pulls.Remaining(spec.Image) is var pullWait && pullWait > delay) delay = pullWait;
            ctx.Log($"app {app.Name}: {e.Message} (retrying in {delay.TotalSeconds:0.#} s)");
            var gen = app.RetryGeneration;
            ctx.Queue.After(delay, async () =>
            {
                if (ctx.IsCurrent(app) && app.RetryGeneration == gen && app.Error is not null)
                    await ConvergeAsync(app).ConfigureAwait(false);
            });
        }
        finally
        {
            ctx.Publish(app);
        }
    }

    /// <summary>Stops and removes this node's copies of the app's replicas that placement assigned to another node
    /// (or to none), and forgets them.</summary>
    private async Task DropUnownedAsync(AppInstance app, IReplicaPlacement placement)
    {
        // Fenced: a short grace, and all at once (the others may start their copies within the fence's margin).
        var grace = placement.FencedStopGrace;
        var stops = new List<Task>();
        foreach (var c in Host.Labelled())
            if (c.App == app.Name && !placement.Owns(app.Name, c.Index))
            {
                ctx.Log(grace is null ? $"app {app.Name}: replica {c.Index} is assigned to another node; stopping {c.Id}"
                    : $"app {app.Name}: replica {c.Index}: this node is fenced; stopping {c.Id} (grace {grace.Value.TotalSeconds:0.0#} s)");
                if (app.Replicas.Remove(c.Index, out var r)) supervisor.Forget(r);
                stops.Add(StopAndRemoveAsync(c.Id, ContainerSpec.Name(app.Name, c.Index), grace));
            }
        await Task.WhenAll(stops).ConfigureAwait(false);
        foreach (var k in app.Replicas.Keys.Where(k => !placement.Owns(app.Name, k)).ToList())
        {
            supervisor.Forget(app.Replicas[k]);
            app.Replicas.Remove(k);
        }
    }

    private async Task<(List<(string Name, byte[] Value)> Values, List<string> Env)> SecretsAsync(AppSpec spec)
    {
        var values = new List<(string, byte[])>();
        var env = new List<string>();
        foreach (var s in spec.Secrets)
        {
            var value = await secretSource.OpenAsync(s.Name, ctx.Queue.Stopping).ConfigureAwait(false)
                ?? throw new NodeException($"secret '{s.Name}' does not exist (tio secret + {s.Name})");
            values.Add((s.Name, value));
            if (s.Env is { } e) env.Add(e + "=" + Encoding.UTF8.GetString(value));
        }
        return (values, env);
    }

    private async Task EnsureReplicaAsync(AppInstance app, Replica r, HostImage img, List<(string Name, byte[] Value)> secretValues, List<string> secretEnv)
    {
        var spec = app.Spec!;
        var c = Host.Find(r.Name);
        if (c is not null && (c.Status is HostContainer.Broken or "created" || c.App != app.Name || c.SpecHash != app.Hash))
        {
            // Half-made or half-removed, or made for another spec: clear it away.
            if (c.Status != HostContainer.Broken) ctx.Log($"app {app.Name}: replacing {r.Name} ({c.Id}): spec changed");
            supervisor.Forget(r);
            await StopAndRemoveAsync(c.Id, r.Name).ConfigureAwait(false);
            r.Id = null;
            c = null;
        }
        string? secretsDir = spec.Secrets.Count > 0 ? Host.EnsureSecrets(r.Name, secretValues) : null;
        // Socket directory, regions, the cluster's cgroup v2 directory: also for a container that exists, which
        // restarts in place with their mounts and is born in that directory again.
        var direct = await DirectWiring.PrepareAsync(ctx, app, r).ConfigureAwait(false);
        if (c is null)
        {
            if (secretsDir is null) Host.RemoveSecrets(r.Name);
            var opts = ContainerSpec.For(spec, r.Index, app.Hash, secretsDir, secretEnv, O.Defaults);
            opts.ForbiddenMountSources = [.. O.ForbiddenMountSources];
            opts.Volumes.AddRange(direct.Mounts);
            opts.ClusterCgroup = direct.ClusterCgroup;
            (opts.StdinFd, opts.StdoutFd) = DirectWiring.StdioOf(ctx, spec);
            O.DirectPaths?.BeforeStart(spec);
            await ReplicaAddressing.AttachAsync(ctx, spec, r, opts).ConfigureAwait(false);
            try
            {
                var started = ReplicaDuplicate.Start(Host, app, r, opts, img, ctx.Log);
                r.Id = started.Id;
                r.Restarts = 0;
                r.LastExit = null;
                r.LastError = null;
                r.Started = DateTimeOffset.UtcNow;
                r.Generation++;
                ctx.Log($"app {app.Name}: started {r.Name} ({started.Id}){(r.DuplicatedFrom is { } from ? " as a duplicate of " + from : "")}");
                supervisor.Watch(app, r, started.Pid);
            }
            catch (RtException e)
            {
                r.State = "error";
                r.LastError = e.Message;
                await ReplicaAddressing.DetachAsync(ctx, r.Name).ConfigureAwait(false);
                throw;
            }
            return;
        }
        if (r.Id == c.Id && r.State is "running" or "restarting" or "exited") return; // known and handled
        r.Id = c.Id;
        r.Address = O.Networks.AddressOf(r.Name)?.ToString();
        r.DuplicatedFrom = c.Labels.GetValueOrDefault(Rt.Duplicate.ContainerDuplicator.SourceAnnotation);
        if (c.Status == "running")
        {
            r.Started = c.Created;
            ctx.Log($"app {app.Name}: re-adopted {r.Name} ({c.Id}, pid {c.Pid})");
            supervisor.Watch(app, r, c.Pid);
        }
        else supervisor.FoundStopped(app, r);
    }

    /// <inheritdoc/>
    public async Task RemoveAppAsync(string name)
    {
        if (ctx.Apps.Remove(name, out var app))
        {
            app.RetryGeneration++;
            foreach (var h in app.PortHandles) h.Dispose();
            app.PortHandles.Clear();
            foreach (var r in app.Replicas.Values) supervisor.Forget(r);
        }
        // Replicas stop in parallel (each may take the whole grace), then go one by one.
        await Task.WhenAll(Host.Labelled().Where(c => c.App == name).Select(c => StopAndRemoveAsync(c.Id, null))).ConfigureAwait(false);
        foreach (var c in Host.SecretContainers())
            if (IsReplicaName(c, name)) Host.RemoveSecrets(c);
        ctx.Log($"app {name}: removed");
        ctx.Unpublish(name);
        await DirectWiring.PruneAsync(ctx).ConfigureAwait(false);
    }

    /// <summary>SIGTERM, <see cref="ReconcilerOptions.StopGrace"/> (or <paramref name="grace"/>), then the forced remove (SIGKILL to the cgroup):
    /// container, cgroup, upper dir, state, log, name, secrets tmpfs.</summary>
    private async Task StopAndRemoveAsync(string id, string? name, TimeSpan? grace = null)
    {
        if (name is not null) Host.Unwatch(name);
        await Host.StopAsync(id, grace ?? O.StopGrace).ConfigureAwait(false);
        string? cname = name;
        try
        {
            cname = Host.Remove(id, name) ?? name;
        }
        catch (RtException e)
        {
            ctx.Log($"reconcile: removing container {id}: {e.Message}");
        }
        if (cname is not null)
        {
            Host.Unwatch(cname);
            Host.RemoveSecrets(cname);
            await ReplicaAddressing.DetachAsync(ctx, cname).ConfigureAwait(false);
        }
    }

    private void PublishPorts(AppInstance app)
    {
        if (app.PortsHash == app.Hash) return;
        foreach (var h in app.PortHandles) h.Dispose();
        app.PortHandles.Clear();
        foreach (var p in app.Spec!.Ports) app.PortHandles.Add(O.Ports.Publish(app.Name, p, app.RunningUpstreams));
        app.PortsHash = app.Hash;
    }

    private static bool IsReplicaName(string container, string app)
        => container.Length > app.Length + 1 && container.StartsWith(app + "-", StringComparison.Ordinal)
           && container.AsSpan(app.Length + 1).IndexOfAnyExceptInRange('0', '9') < 0;
}
