using System.Globalization;
using Tinyo.Node.Runtime;
using Tinyo.Rt;
using Tinyo.Rt.Processes;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// Replica supervision: watches each running replica's process, collects its exit (the host's one record of exit
/// codes, signals and OOM kills), applies the restart policy with back-off (100 ms doubling to 30 s, reset after 10 s
/// of running; <see cref="Backoff"/>), runs the healthcheck and kills a replica that turns unhealthy. A restart is in
/// place (same container, files kept); when it fails the app is converged again from scratch.
/// </summary>
internal sealed class ReplicaSupervisor(ReconcileContext ctx, Func<AppInstance, Task> reconverge)
{
    private IContainerHost Host => ctx.Host;

    /// <summary>Marks the replica running (process <paramref name="pid"/>) and watches it.</summary>
    public void Watch(AppInstance app, Replica r, int pid)
    {
        var id = r.Id!;
        r.Pid = pid;
        r.State = "running";
        app.RefreshPids();
        var gen = r.Generation;
        Host.WatchExit(r.Name, pid, status => ctx.Queue.Post(() => OnExited(app, r, id, gen, pid, status)));
        r.Probe?.Dispose();
        r.Probe = null;
        if (app.Spec!.Healthcheck is { } hc)
            r.Probe = Host.StartProbe(id, hc, () => ctx.Queue.Post(() =>
            {
                if (r.Id != id || r.Generation != gen) return;
                ctx.Log($"app {app.Name}: {r.Name} is unhealthy ({hc.Retries} failed checks); killing it");
                r.LastError = "unhealthy";
                Host.Kill(id, 9, all: true);
            }), () => ctx.Queue.Post(() =>
            {
                if (r.Id == id && r.Generation == gen) ctx.Publish(app);
            }));
        ctx.Publish(app);
    }

    /// <summary>Stops supervising a replica (no exit callback, no probe, stale timers ignored).</summary>
    public void Forget(Replica r)
    {
        r.Generation++;
        r.Probe?.Dispose();
        r.Probe = null;
        Host.Unwatch(r.Name);
    }

    /// <summary>A replica found stopped (after the node was down, or it died meanwhile): its exit decides.</summary>
    public void FoundStopped(AppInstance app, Replica r)
    {
        var id = r.Id!;
        r.LastExit = Host.CollectExit(id);
        r.Pid = 0;
        if (RestartPolicy.ShouldRestart(app.Spec!.Restart, r.LastExit?.Code))
        {
            ctx.Log($"app {app.Name}: {r.Name} ({id}) is stopped; starting it again (restart: {app.Spec.Restart})");
            RestartNow(app, r);
        }
        else
        {
            r.State = "exited";
            ExitedForGood(r);
        }
    }

    /// <summary>A watched container ended. <paramref name="status"/>: its wait status read from the pidfd when it was
    /// not our child (re-adopted after a node restart); our own children are reaped by the host.</summary>
    private void OnExited(AppInstance app, Replica r, string id, int gen, int pid, int? status)
    {
        if (r.Id != id || r.Generation != gen || !ctx.IsCurrent(app)) return; // replaced or removed meanwhile
        r.Probe?.Dispose();
        r.Probe = null;
        // Recorded in the state (with the OOM verdict, before the cgroup goes), so `tio ls` and tinyort see it too.
        var exit = Host.CollectExit(id, status is { } ws && pid > 0 ? (pid, ws) : null);
        var ran = r.Started is { } s ? DateTimeOffset.UtcNow - s : TimeSpan.Zero;
        r.LastExit = exit;
        r.Pid = 0;
        r.State = "exited";
        app.RefreshPids();
        var policy = app.Spec!.Restart;
        if (ctx.Queue.Stopping.IsCancellationRequested) return;
        if (RestartPolicy.ShouldRestart(policy, exit?.Code))
        {
            var delay = r.Backoff.Next(ran);
            r.State = "restarting";
            ctx.Log($"app {app.Name}: {r.Name} exited {Describe(exit)} after {ran.TotalSeconds:0.#} s; restart in {delay.TotalMilliseconds:0} ms");
            var g = ++r.Generation;
            ctx.Queue.After(delay, () =>
            {
                if (r.Id == id && r.Generation == g && ctx.IsCurrent(app)) RestartNow(app, r);
                return Task.CompletedTask;
            });
        }
        else
        {
            ctx.Log($"app {app.Name}: {r.Name} exited {Describe(exit)}; not restarted (restart: {policy})");
            ExitedForGood(r);
        }
        ctx.Publish(app);
    }

    /// <summary>A replica that will not run again gives its cluster address back (a new spec makes a new container).</summary>
    private void ExitedForGood(Replica r)
    {
        if (r.Address is null) return;
        r.Address = null;
        var id = r.Id;
        ctx.Queue.Post(async () =>
        {
            if (r.Id == id && r.State == "exited") await ReplicaAddressing.DetachAsync(ctx, r.Name).ConfigureAwait(false);
        });
    }

    private void RestartNow(AppInstance app, Replica r)
    {
        var id = r.Id!;
        try
        {
            ctx.Options.DirectPaths?.BeforeStart(app.Spec!); // its old socket file would make its bind fail
            var (stdin, stdout) = DirectWiring.StdioOf(ctx, app.Spec!); // the same pipe again
            var c = Host.Restart(id, stdin, stdout);
            r.Restarts++;
            r.Started = DateTimeOffset.UtcNow;
            r.Generation++;
            Watch(app, r, c.Pid);
        }
        catch (RtException e)
        {
            // Restart removed the container (e.g. a mount source vanished): make a new one through the full path.
            ctx.Log($"app {app.Name}: restarting {r.Name} failed: {e.Message}");
            r.LastError = e.Message;
            r.Id = null;
            r.State = "error";
            r.Generation++;
            ctx.Queue.Post(() => reconverge(app));
        }
    }

    /// <summary>How an exit reads in the node's log: "(exit code N)", then what ended it: " (signal S)", " (OOM-killed)".</summary>
    public static string Describe(ExitStatus? exit)
    {
        if (exit is not { } e) return "(exit code unknown)";
        var s = "(exit code " + e.Code.ToString(CultureInfo.InvariantCulture) + ")";
        if (e.OomKilled) return s + " (OOM-killed)";
        return e.Signal != 0 ? s + " (signal " + e.Signal.ToString(CultureInfo.InvariantCulture) + ")" : s;
    }
}
