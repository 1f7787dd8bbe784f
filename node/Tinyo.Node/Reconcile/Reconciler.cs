using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Tinyo.Ctl.Api;
using Tinyo.Ctl.Statefile;
using Tinyo.Kv;
using Tinyo.Kv.Protocol;
using Tinyo.Node.Security;
using Tinyo.Node.Store;
using Tinyo.Rt;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Images;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// Desired state (<c>/tinyo/apps/</c> in tinyokv) → containers on this node, through Tinyo.Rt in-process.
/// </summary>
/// <remarks>
/// <para><b>Watch-driven.</b> A range of <c>/tinyo/apps/</c> gives the full desired state and a revision; a watch
/// from the next revision delivers every change. When the watch ends (compaction) or tinyokv cannot be reached, the
/// loop backs off (0.5 s doubling to 10 s) and resyncs with a new range: apps missing from it are removed, so a
/// delete missed while the KV was down is not lost either. Containers keep running meanwhile.</para>
/// <para><b>One loop.</b> Every decision runs on one sequential work queue (a channel of work items): watch events,
/// container exits (from <see cref="ContainerWatcher"/>), restart timers, retries, health verdicts. No locks around
/// app state; rt calls that may block (stopping a container) run on the thread pool and are awaited.</para>
/// <para><b>Identity.</b> Replica i of app A is the rt container named <c>A-i</c>, annotated with <c>tinyo.app</c>,
/// <c>tinyo.spec</c> (<see cref="SpecHash"/>) and <c>tinyo.replica</c>. A container with another spec hash is
/// replaced (stopped, removed, created again under the same name); one with the same hash is kept, so re-applying
/// an unchanged file changes nothing, and a restarted tinyonode re-adopts running containers instead of
/// duplicating them.</para>
/// <para><b>Status.</b> Observed state goes to <c>/tinyo/status/NODE/APP</c> (<see cref="AppStatus"/>) from a separate
/// writer task, so a slow or absent KV never stalls restarts.</para>
/// </remarks>
public sealed class Reconciler : IAsyncDisposable
{
    private readonly ReconcilerOptions o;
    private readonly StateStore store;
    private readonly SecretBox box;
    private readonly ContainerRuntime rt;
    private readonly ImageContainers ic;
    private readonly ImageSource images;
    private readonly SecretFiles secrets;
    private readonly ContainerWatcher watcher = new();
    private readonly Channel<Func<Task>> work = Channel.CreateUnbounded<Func<Task>>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, AppInstance> apps = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource stop = new();
    private readonly StatusWriter status;
    private Task? loop, watch, logCap;

    /// <summary>Status prefix of this node.</summary>
    private string StatusPrefix => Keys.Status + o.Node + "/";

    /// <summary>A reconciler; <see cref="Start"/> begins the work.</summary>
    public Reconciler(ReconcilerOptions options, StateStore store, SecretBox box)
    {
        o = options;
        this.store = store;
        this.box = box;
        rt = new ContainerRuntime(o.Runtime, o.RuntimeOptions);
        ic = new ImageContainers(rt);
        images = new ImageSource(new ImageStore(o.Runtime), MirrorsAsync, o.Offline, o.Log);
        secrets = new SecretFiles(o.SecretsDir);
        status = new StatusWriter(store, StatusPrefix, o.Log);
    }

    /// <summary>Starts the loop and the watch.</summary>
    public void Start()
    {
        loop = Task.Run(LoopAsync);
        watch = Task.Run(() => WatchAsync(stop.Token));
        status.Start(stop.Token);
        if (o.EnforceLogCap is { } cap) logCap = Task.Run(() => LogCapAsync(cap, stop.Token));
    }

    private void Post(Func<Task> item) => work.Writer.TryWrite(item);

    private void Post(Action item) => Post(() =>
    {
        item();
        return Task.CompletedTask;
    });

    private async Task LoopAsync()
    {
        await foreach (var item in work.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await item().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // A bug must not end the loop: log it, the next event or retry converges again.
                o.Log($"reconcile: unexpected {e.GetType().Name}: {e.Message}");
            }
        }
    }

    // ---------------------------------------------------------------- desired state from the KV

    private async Task WatchAsync(CancellationToken ct)
    {
        var prefix = Keys.Of(Keys.Apps);
        var end = RangeRequest.PrefixEnd(prefix);
        var delay = TimeSpan.FromMilliseconds(500);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var resp = await store.Kv.RangeAsync(new RangeRequest(prefix, end), ct).ConfigureAwait(false);
                var desired = new Dictionary<string, AppSpec>(StringComparer.Ordinal);
                foreach (var kv in resp.Kvs)
                    if (Decode(kv.Key, kv.Value) is { } d) desired[d.Name] = d.Spec;
                var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                Post(async () =>
                {
                    try { await SyncAllAsync(desired).ConfigureAwait(false); }
                    finally { tcs.TrySetResult(); }
                });
                delay = TimeSpan.FromMilliseconds(500);
                await foreach (var frame in store.Kv.WatchAsync(prefix, end, resp.Revision + 1, ct: ct).ConfigureAwait(false))
                {
                    foreach (var ev in frame.Events)
                    {
                        var name = Encoding.UTF8.GetString(ev.Kv.Key)[Keys.Apps.Length..];
                        if (ev.Type == Kv.Mvcc.WatchEventType.Put && Decode(ev.Kv.Key, ev.Kv.Value) is { } d) Post(() => ApplyAsync(d.Name, d.Spec));
                        else if (ev.Type != Kv.Mvcc.WatchEventType.Put) Post(() => RemoveAppAsync(name));
                    }
                }
                if (ct.IsCancellationRequested) return;
                o.Log("reconcile: the watch of /tinyo/apps/ ended (compacted?); resyncing");
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is KvException or IOException or System.Net.Sockets.SocketException or TimeoutException or OperationCanceledException)
            {
                o.Log($"reconcile: tinyokv unavailable ({e.Message}); retrying in {delay.TotalSeconds:0.#} s");
            }
            try
            {
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }

    private (string Name, AppSpec Spec)? Decode(byte[] key, byte[] value)
    {
        var name = Encoding.UTF8.GetString(key)[Keys.Apps.Length..];
        try
        {
            var rec = JsonSerializer.Deserialize(value, ApiJson.Default.AppRecord);
            if (rec?.Spec is { } s && s.Name == name) return (name, s);
        }
        catch (JsonException e)
        {
            o.Log($"reconcile: app {name}: unreadable record ({e.Message}); ignored");
            return null;
        }
        o.Log($"reconcile: app {name}: record without a matching spec; ignored");
        return null;
    }

    private async Task<IReadOnlyList<string>> MirrorsAsync(CancellationToken ct)
    {
        var list = new List<string>(o.RegistryMirrors);
        try
        {
            if (await store.Kv.GetAsync(Keys.Of(Keys.RegistryMirrors), ct: ct).ConfigureAwait(false) is { } kv)
                foreach (var m in RegistryMirrors.Split(Encoding.UTF8.GetString(kv.Value)))
                    if (!list.Contains(m)) list.Add(m);
        }
        catch (KvException e)
        {
            o.Log($"reconcile: cannot read {Keys.RegistryMirrors} ({e.Message}); using the command line's mirrors only");
        }
        return list;
    }

    // ---------------------------------------------------------------- convergence (all on the loop)

    /// <summary>Full desired state: remove what is gone (also containers of apps removed while we were down), apply the rest.</summary>
    private async Task SyncAllAsync(Dictionary<string, AppSpec> desired)
    {
        foreach (var name in apps.Keys.Where(n => !desired.ContainsKey(n)).ToList())
            await RemoveAppAsync(name).ConfigureAwait(false);
        foreach (var (id, app) in Labelled())
            if (!desired.ContainsKey(app))
            {
                o.Log($"reconcile: removing container {id} of app {app}, which no longer exists");
                await StopAndRemoveAsync(id, null).ConfigureAwait(false);
            }
        foreach (var c in secrets.Containers().ToList())
            if (ContainerNames.Lookup(o.Runtime, c) is null) secrets.Remove(c);
        foreach (var (name, spec) in desired) await ApplyAsync(name, spec).ConfigureAwait(false);
        status.Prune([.. desired.Keys]);
    }

    private async Task ApplyAsync(string name, AppSpec spec)
    {
        if (!apps.TryGetValue(name, out var app)) apps[name] = app = new AppInstance(name);
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

    private async Task ConvergeAsync(AppInstance app)
    {
        var spec = app.Spec!;
        try
        {
            app.Error = null;
            StoredImage img;
            app.Phase = "pulling";
            Publish(app);
            try
            {
                img = await images.GetAsync(spec.Image, stop.Token).ConfigureAwait(false);
            }
            finally
            {
                app.Phase = null;
            }
            if (!apps.TryGetValue(app.Name, out var current) || current != app || app.Spec != spec) return; // changed meanwhile
            o.Ports.Check(app.Name, spec.Ports);
            var (secretValues, secretEnv) = await SecretsAsync(spec).ConfigureAwait(false);
            try
            {
                for (int i = 1; i <= spec.Replicas; i++)
                    await EnsureReplicaAsync(app, app.Replica(i), img, secretValues, secretEnv).ConfigureAwait(false);
            }
            finally
            {
                foreach (var (_, v) in secretValues) System.Security.Cryptography.CryptographicOperations.ZeroMemory(v);
            }
            // Scale down: replicas above the count, by label (also ones left from before a restart of the node).
            foreach (var (id, app2, index) in LabelledWithIndex())
                if (app2 == app.Name && index > spec.Replicas)
                    await StopAndRemoveAsync(id, ContainerSpec.Name(app.Name, index)).ConfigureAwait(false);
            foreach (var k in app.Replicas.Keys.Where(k => k > spec.Replicas).ToList())
            {
                app.Replicas[k].Probe?.Dispose();
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
            o.Log($"app {app.Name}: {e.Message} (retrying in {delay.TotalSeconds:0.#} s)");
            var gen = app.RetryGeneration;
            After(delay, async () =>
            {
                if (apps.TryGetValue(app.Name, out var cur) && cur == app && app.RetryGeneration == gen && app.Error is not null)
                    await ConvergeAsync(app).ConfigureAwait(false);
            });
        }
        finally
        {
            Publish(app);
        }
    }

    private async Task<(List<(string Name, byte[] Value)> Values, List<string> Env)> SecretsAsync(AppSpec spec)
    {
        var values = new List<(string, byte[])>();
        var env = new List<string>();
        foreach (var s in spec.Secrets)
        {
            var stored = await store.GetAsync(Keys.Secrets + s.Name, StoreJson.Default.StoredSecret, stop.Token).ConfigureAwait(false)
                ?? throw new NodeException($"secret '{s.Name}' does not exist (tio secret + {s.Name})");
            var value = box.Open(s.Name, stored);
            values.Add((s.Name, value));
            if (s.Env is { } e) env.Add(e + "=" + Encoding.UTF8.GetString(value));
        }
        return (values, env);
    }

    private async Task EnsureReplicaAsync(AppInstance app, Replica r, StoredImage img, List<(string Name, byte[] Value)> secretValues, List<string> secretEnv)
    {
        var spec = app.Spec!;
        string? id = ContainerNames.Lookup(o.Runtime, r.Name);
        Rt.Oci.OciState? st = null;
        if (id is not null)
        {
            try
            {
                st = rt.State(id);
            }
            catch (RtException)
            {
                st = null; // half-made or half-removed: clear it away
            }
            var labels = st?.Annotations;
            if (st is null || labels is null || !labels.TryGetValue(ContainerSpec.AppLabel, out var a) || a != app.Name
                || !labels.TryGetValue(ContainerSpec.SpecLabel, out var h) || h != app.Hash || st.Status == "created")
            {
                if (st is not null) o.Log($"app {app.Name}: replacing {r.Name} ({id}): spec changed");
                await StopAndRemoveAsync(id, r.Name).ConfigureAwait(false);
                r.Generation++;
                r.Id = null;
                id = null;
                st = null;
            }
        }
        string? secretsDir = spec.Secrets.Count > 0 ? secrets.Ensure(r.Name, secretValues) : null;
        if (id is null)
        {
            if (secretsDir is null) secrets.Remove(r.Name);
            var opts = ContainerSpec.For(spec, r.Index, app.Hash, secretsDir, secretEnv);
            try
            {
                var started = ic.Run(opts, img);
                r.Id = started.Id;
                r.Restarts = 0;
                r.ExitCode = null;
                r.LastError = null;
                r.Started = DateTimeOffset.UtcNow;
                r.Generation++;
                o.Log($"app {app.Name}: started {r.Name} ({started.Id})");
                Watch(app, r);
            }
            catch (RtException e)
            {
                r.State = "error";
                r.LastError = e.Message;
                throw;
            }
            return;
        }
        if (r.Id == id && r.State is "running" or "restarting" or "exited") return; // known and handled
        r.Id = id;
        switch (st!.Status)
        {
            case "running":
                r.Started = ParseCreated(st.Created);
                o.Log($"app {app.Name}: re-adopted {r.Name} ({id}, pid {st.Pid})");
                Watch(app, r);
                break;
            default: // stopped: found after the node was down (tio down stops containers), or it died meanwhile
                var exit = rt.CollectExit(id)?.Code;
                r.ExitCode = exit;
                if (RestartPolicy.ShouldRestart(spec.Restart, exit))
                {
                    o.Log($"app {app.Name}: {r.Name} ({id}) is stopped; starting it again (restart: {spec.Restart})");
                    RestartNow(app, r);
                }
                else
                {
                    r.State = "exited";
                    r.Pid = 0;
                }
                break;
        }
    }

    private void Watch(AppInstance app, Replica r)
    {
        var id = r.Id!;
        int pid;
        try
        {
            pid = rt.State(id).Pid;
        }
        catch (RtException)
        {
            pid = 0;
        }
        r.Pid = pid;
        r.State = "running";
        app.RefreshPids();
        var gen = r.Generation;
        watcher.Watch(r.Name, pid, status => Post(() => OnExited(app, r, id, gen, pid, status)));
        r.Probe?.Dispose();
        r.Probe = null;
        if (app.Spec!.Healthcheck is { } hc)
            r.Probe = new HealthProbe(o.Runtime, id, hc, () => Post(() =>
            {
                if (r.Id != id || r.Generation != gen) return;
                o.Log($"app {app.Name}: {r.Name} is unhealthy ({hc.Retries} failed checks); killing it");
                r.LastError = "unhealthy";
                try { rt.Kill(id, 9, all: true); } catch (RtException) { }
            }), () => Post(() =>
            {
                if (r.Id == id && r.Generation == gen) Publish(app);
            }));
        Publish(app);
    }

    /// <summary>A watched container ended. <paramref name="status"/>: its wait status read from the pidfd when it was
    /// not our child (re-adopted after a node restart); our own children are reaped and recorded by ReapExited.</summary>
    private void OnExited(AppInstance app, Replica r, string id, int gen, int pid, int? status)
    {
        if (r.Id != id || r.Generation != gen || !apps.TryGetValue(app.Name, out var cur) || cur != app) return; // replaced or removed meanwhile
        r.Probe?.Dispose();
        r.Probe = null;
        // Recorded in the state (with the OOM verdict, before the cgroup goes), so `tio ls` and tinyort see it too.
        var code = rt.CollectExit(id, status is { } ws && pid > 0 ? (pid, ws) : null)?.Code;
        var ran = r.Started is { } s ? DateTimeOffset.UtcNow - s : TimeSpan.Zero;
        r.ExitCode = code;
        r.Pid = 0;
        r.State = "exited";
        app.RefreshPids();
        var policy = app.Spec!.Restart;
        if (stop.IsCancellationRequested) return;
        if (RestartPolicy.ShouldRestart(policy, code))
        {
            var delay = r.Backoff.Next(ran);
            r.State = "restarting";
            o.Log($"app {app.Name}: {r.Name} exited ({Describe(code)}) after {ran.TotalSeconds:0.#} s; restart in {delay.TotalMilliseconds:0} ms");
            var g = ++r.Generation;
            After(delay, () =>
            {
                if (r.Id == id && r.Generation == g && apps.TryGetValue(app.Name, out var c) && c == app) RestartNow(app, r);
                return Task.CompletedTask;
            });
        }
        else o.Log($"app {app.Name}: {r.Name} exited ({Describe(code)}); not restarted (restart: {policy})");
        Publish(app);
    }

    private void RestartNow(AppInstance app, Replica r)
    {
        var id = r.Id!;
        try
        {
            ic.Restart(id);
            r.Restarts++;
            r.Started = DateTimeOffset.UtcNow;
            r.ExitCode = null;
            r.Generation++;
            Watch(app, r);
        }
        catch (RtException e)
        {
            // Restart removed the container (e.g. a mount source vanished): make a new one through the full path.
            o.Log($"app {app.Name}: restarting {r.Name} failed: {e.Message}");
            r.LastError = e.Message;
            r.Id = null;
            r.State = "error";
            r.Generation++;
            Post(() => ConvergeAsync(app));
        }
    }

    private async Task RemoveAppAsync(string name)
    {
        if (apps.Remove(name, out var app))
        {
            app.RetryGeneration++;
            foreach (var h in app.PortHandles) h.Dispose();
            app.PortHandles.Clear();
            foreach (var r in app.Replicas.Values)
            {
                r.Generation++;
                r.Probe?.Dispose();
            }
        }
        // Replicas stop in parallel (each may take the whole grace), then go one by one.
        await Task.WhenAll(Labelled().Where(x => x.App == name).Select(x => StopAndRemoveAsync(x.Id, null))).ConfigureAwait(false);
        foreach (var c in secrets.Containers().ToList())
            if (IsReplicaName(c, name)) secrets.Remove(c);
        o.Log($"app {name}: removed");
        status.Remove(name);
    }

    /// <summary>SIGTERM, <see cref="ReconcilerOptions.StopGrace"/>, then the runtime's forced remove (SIGKILL to the
    /// cgroup): container, cgroup, upper dir, state, log, name. With a name, its secrets tmpfs goes too.</summary>
    private async Task StopAndRemoveAsync(string id, string? name)
    {
        if (name is not null) watcher.Unwatch(name);
        await StopAsync(id).ConfigureAwait(false);
        string? cname = name;
        try
        {
            cname ??= ic.Info(id)?.Name;
            ic.Remove(id, force: true);
        }
        catch (RtException e)
        {
            o.Log($"reconcile: removing container {id}: {e.Message}");
        }
        if (cname is not null)
        {
            watcher.Unwatch(cname);
            secrets.Remove(cname);
        }
    }

    private async Task StopAsync(string id)
    {
        try
        {
            if (rt.State(id).Status != "running") return;
            rt.Kill(id, 15);
            if (!await Task.Run(() => ic.WaitStopped(id, o.StopGrace)).ConfigureAwait(false)) rt.Kill(id, 9, all: true);
            await Task.Run(() => ic.WaitStopped(id, TimeSpan.FromSeconds(5))).ConfigureAwait(false);
            rt.CollectExit(id);
        }
        catch (RtException)
        {
            // gone already
        }
    }

    private void PublishPorts(AppInstance app)
    {
        if (app.PortsHash == app.Hash) return;
        foreach (var h in app.PortHandles) h.Dispose();
        app.PortHandles.Clear();
        foreach (var p in app.Spec!.Ports) app.PortHandles.Add(o.Ports.Publish(app.Name, p, app.RunningPids));
        app.PortsHash = app.Hash;
    }

    // ---------------------------------------------------------------- helpers

    private void After(TimeSpan delay, Func<Task> item)
        => _ = Task.Delay(delay, stop.Token).ContinueWith(t =>
        {
            if (!t.IsCanceled) Post(item);
        }, TaskScheduler.Default);

    private void Publish(AppInstance app)
    {
        app.RefreshPids();
        status.Set(app.Name, app.ToStatus(o.Node));
    }

    private static string Describe(int? code) => code is { } c ? "exit code " + c.ToString(CultureInfo.InvariantCulture) : "exit code unknown";

    private static DateTimeOffset ParseCreated(string created)
    {
        if (created.Length > 27) created = created[..27] + "Z";
        return DateTimeOffset.TryParse(created, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t : DateTimeOffset.UtcNow;
    }

    private static bool IsReplicaName(string container, string app)
        => container.Length > app.Length + 1 && container.StartsWith(app + "-", StringComparison.Ordinal)
           && container.AsSpan(app.Length + 1).IndexOfAnyExceptInRange('0', '9') < 0;

    /// <summary>Containers labelled by a node (id, app).</summary>
    private IEnumerable<(string Id, string App)> Labelled()
    {
        foreach (var (id, app, _) in LabelledWithIndex()) yield return (id, app);
    }

    private List<(string Id, string App, int Index)> LabelledWithIndex()
    {
        var l = new List<(string, string, int)>();
        foreach (var s in rt.List())
            if (s.Annotations is { } a && a.TryGetValue(ContainerSpec.AppLabel, out var app))
                l.Add((s.Id, app, a.TryGetValue(ContainerSpec.ReplicaLabel, out var i) && int.TryParse(i, CultureInfo.InvariantCulture, out var n) ? n : 0));
        return l;
    }

    private async Task LogCapAsync(Action<string> cap, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            foreach (var s in rt.List())
            {
                try
                {
                    cap(ic.LogFile(s.Id));
                }
                catch (IOException e)
                {
                    o.Log($"reconcile: log cap of {s.Id}: {e.Message}");
                }
            }
        }
    }

    // ---------------------------------------------------------------- shutdown

    /// <summary>
    /// Stops the watch and the loop, then stops every container this node runs (SIGTERM, grace, SIGKILL) without
    /// removing it, unmounts their secrets and closes their ports: `tio down` followed by `tio ++` brings them back
    /// per their restart policy (<c>always</c>, and <c>on-failure</c> since a stop is not a clean exit).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        stop.Cancel();
        if (watch is not null) await watch.ConfigureAwait(false);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(async () =>
        {
            try
            {
                var running = new List<Task>();
                foreach (var app in apps.Values)
                {
                    foreach (var h in app.PortHandles) h.Dispose();
                    app.PortHandles.Clear();
                    foreach (var r in app.Replicas.Values)
                    {
                        r.Generation++;
                        r.Probe?.Dispose();
                        watcher.Unwatch(r.Name);
                        if (r.Id is { } id) running.Add(StopAsync(id));
                    }
                }
                await Task.WhenAll(running).ConfigureAwait(false);
                foreach (var c in secrets.Containers().ToList()) secrets.Remove(c);
                if (running.Count > 0) o.Log($"reconcile: stopped {running.Count} container(s)");
            }
            finally
            {
                done.TrySetResult();
            }
        });
        await done.Task.ConfigureAwait(false);
        work.Writer.TryComplete();
        if (loop is not null) await loop.ConfigureAwait(false);
        if (logCap is not null) await logCap.ConfigureAwait(false);
        await status.DisposeAsync().ConfigureAwait(false);
        watcher.Dispose();
    }
}
