using Tinyo.Api.Statefile;
using Tinyo.Kv;
using Tinyo.Node.Runtime;
using Tinyo.Node.Security;
using Tinyo.Node.Store;
using Tinyo.Rt.Containers;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// Desired state (<c>/tinyo/apps/</c> in tinyokv) → containers on this node. Three parts on one loop:
/// <see cref="DesiredStateFeed"/> (the KV range and watch), <see cref="Convergence"/> (desired against actual →
/// create, replace, keep, scale, remove) and <see cref="ReplicaSupervisor"/> (exits, restart back-off, health),
/// all acting through an <see cref="IContainerHost"/> — Tinyo.Rt in-process (<see cref="RtContainerHost"/>) in the
/// node, a fake in the unit tests.
/// </summary>
/// <remarks>
/// <para><b>One loop.</b> Every decision runs on one sequential <see cref="WorkQueue"/>: watch events, container
/// exits, restart timers, retries, health verdicts. No locks around app state; host calls that may block (stopping
/// a container) are awaited.</para>
/// <para><b>Identity.</b> Replica i of app A is the container named <c>A-i</c>, annotated with <c>tinyo.app</c>,
/// <c>tinyo.spec</c> (<see cref="SpecHash"/>) and <c>tinyo.replica</c>. A container with another spec hash is
/// replaced; one with the same hash is kept, so re-applying an unchanged file changes nothing, and a restarted
/// tinyonode re-adopts running containers instead of duplicating them.</para>
/// <para><b>Status.</b> Observed state goes to an <see cref="IStatusSink"/> (<see cref="StatusWriter"/>: the KV's
/// <c>/tinyo/status/NODE/APP</c>, written from its own task, so a slow or absent KV never stalls restarts).</para>
/// </remarks>
public sealed class Reconciler : IAsyncDisposable
{
    private readonly ReconcilerOptions o;
    private readonly IContainerHost host;
    private readonly CancellationTokenSource stop = new();
    private readonly WorkQueue queue;
    private readonly ReconcileContext ctx;
    private readonly Convergence convergence;
    private readonly DesiredStateFeed? feed;
    private readonly StatusWriter? statusWriter;
    private readonly IDisposable? ownedHost;
    private Task? loop, watch, logCap;

    /// <summary>The node's reconciler: desired state and status in the KV, containers through Tinyo.Rt in-process.</summary>
    public Reconciler(ReconcilerOptions options, StateStore store, SecretBox box)
        : this(options, store, box, NewHost(options, store))
    {
    }

    private Reconciler(ReconcilerOptions options, StateStore store, SecretBox box, RtContainerHost host)
        : this(options, host, new StoredSecrets(new NodeSettings(store), box),
            new StatusWriter(new NodeStatusStore(store, options.Node), options.Log), new DesiredApps(store, options.Log))
    {
        ownedHost = host;
    }

    /// <summary>A reconciler over any host, secret source and status sink; with <paramref name="desired"/> null,
    /// desired state comes only through <see cref="ApplyAsync"/>, <see cref="RemoveAsync"/> and
    /// <see cref="SyncAllAsync"/> (the unit tests).</summary>
    internal Reconciler(ReconcilerOptions options, IContainerHost host, ISecretSource secrets, IStatusSink status, DesiredApps? desired = null)
    {
        o = options;
        this.host = host;
        queue = new WorkQueue(o.Log, stop.Token);
        ctx = new ReconcileContext(o, host, queue, status);
        var supervisor = new ReplicaSupervisor(ctx, app => convergence!.ConvergeAsync(app));
        convergence = new Convergence(ctx, secrets, supervisor);
        if (desired is not null) feed = new DesiredStateFeed(desired, queue, convergence, o.Log);
        statusWriter = status as StatusWriter;
    }

    private static RtContainerHost NewHost(ReconcilerOptions o, StateStore store)
    {
        var settings = new NodeSettings(store);
        async Task<IReadOnlyList<string>> MirrorsAsync(CancellationToken ct)
        {
            var list = new List<string>(o.RegistryMirrors);
            try
            {
                foreach (var m in await settings.RegistryMirrorsAsync(ct).ConfigureAwait(false))
                    if (!list.Contains(m)) list.Add(m);
            }
            catch (KvException e)
            {
                o.Log($"reconcile: cannot read {Keys.RegistryMirrors} ({e.Message}); using the command line's mirrors only");
            }
            return list;
        }
        return new RtContainerHost(new ContainerRuntime(o.Runtime, o.RuntimeOptions), o.SecretsDir, MirrorsAsync, o.Offline, o.Log);
    }

    /// <summary>Starts the loop and the watch.</summary>
    public void Start()
    {
        loop = Task.Run(queue.RunAsync);
        if (feed is not null) watch = Task.Run(() => feed.RunAsync(stop.Token));
        statusWriter?.Start(stop.Token);
        if (o.EnforceLogCap is { } cap) logCap = Task.Run(() => LogCapAsync(cap, stop.Token));
    }

    /// <summary>Desired: the full set (apps missing from it are removed). Completes once converged.</summary>
    internal Task SyncAllAsync(Dictionary<string, AppSpec> desired) => Run(() => convergence.SyncAllAsync(desired));

    /// <summary>Desired: one app put. Completes once converged (or failed, to be retried).</summary>
    internal Task ApplyAsync(AppSpec spec) => Run(() => convergence.ApplyAsync(spec.Name, spec));

    /// <summary>Desired: one app deleted. Completes once removed.</summary>
    internal Task RemoveAsync(string name) => Run(() => convergence.RemoveAppAsync(name));

    /// <summary>
    /// Converges one app again on the loop (placement moved one of its replicas to or away from this node); an app
    /// the node does not know yet is left to the desired-state feed.
    /// </summary>
    public void Reconverge(string app)
        => queue.Post(async () =>
        {
            if (ctx.Apps.TryGetValue(app, out var a) && a.Spec is not null) await convergence.ConvergeAsync(a).ConfigureAwait(false);
        });

    /// <summary>Completes once every queued decision (exits, timers already fired) has run.</summary>
    internal Task IdleAsync() => queue.Idle();

    private Task Run(Func<Task> item)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        queue.Post(async () =>
        {
            try { await item().ConfigureAwait(false); }
            finally { tcs.TrySetResult(); }
        });
        return tcs.Task;
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
            foreach (var file in host.LogFiles())
            {
                try
                {
                    cap(file);
                }
                catch (IOException e)
                {
                    o.Log($"reconcile: log cap of {file}: {e.Message}");
                }
            }
        }
    }

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
        queue.Post(async () =>
        {
            try
            {
                var running = new List<Task>();
                foreach (var app in ctx.Apps.Values)
                {
                    foreach (var h in app.PortHandles) h.Dispose();
                    app.PortHandles.Clear();
                    foreach (var r in app.Replicas.Values)
                    {
                        r.Generation++;
                        r.Probe?.Dispose();
                        host.Unwatch(r.Name);
                        if (r.Id is { } id) running.Add(host.StopAsync(id, o.StopGrace));
                    }
                }
                await Task.WhenAll(running).ConfigureAwait(false);
                foreach (var c in host.SecretContainers()) host.RemoveSecrets(c);
                if (running.Count > 0) o.Log($"reconcile: stopped {running.Count} container(s)");
                await o.Networks.StopAsync().ConfigureAwait(false); // namespaces, links, responders, rules; leases stay
                o.DirectPaths?.Stop(); // socket directories, regions
                o.Shortcuts?.Stop(); // eBPF shortcuts and the clusters' cgroup v2 directories
                o.Pipes?.Stop(); // stdin: pipes
            }
            finally
            {
                done.TrySetResult();
            }
        });
        if (loop is null) _ = Task.Run(queue.RunAsync);
        await done.Task.ConfigureAwait(false);
        queue.Complete();
        if (loop is not null) await loop.ConfigureAwait(false);
        if (logCap is not null) await logCap.ConfigureAwait(false);
        if (statusWriter is not null) await statusWriter.DisposeAsync().ConfigureAwait(false);
        ownedHost?.Dispose();
    }
}

/// <summary>Secrets from the KV, opened with the node key.</summary>
internal sealed class StoredSecrets(NodeSettings settings, SecretBox box) : ISecretSource
{
    public Task<byte[]?> OpenAsync(string name, CancellationToken ct) => settings.OpenSecretAsync(name, box, ct);
}
