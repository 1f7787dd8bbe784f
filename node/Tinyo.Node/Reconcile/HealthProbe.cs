using Tinyo.Api.Statefile;
using Tinyo.Rt;
using Tinyo.Rt.Containers;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// Runs an app's healthcheck in one container (through the runtime's exec: the container's namespaces, cgroup,
/// user and seccomp filter) every interval. After <c>retries</c> consecutive failures (exit code ≠ 0, or the exec
/// failing) it calls <c>unhealthy</c> once and stops: the reconciler then kills the container and the restart
/// policy decides. The command's output goes to the node's log (stdio of tinyonode).
/// </summary>
internal sealed class HealthProbe : Runtime.IHealthProbe
{
    private readonly CancellationTokenSource stop = new();
    private volatile string status = "starting";

    /// <summary>starting, healthy or unhealthy.</summary>
    public string Status => status;

    /// <summary>Starts probing; <paramref name="changed"/> is called when <see cref="Status"/> changes (to publish it).</summary>
    public HealthProbe(RuntimeRoot root, string id, HealthcheckSpec check, Action unhealthy, Action changed)
    {
        var ct = stop.Token;
        _ = Task.Run(async () =>
        {
            int failures = 0;
            var interval = TimeSpan.FromMilliseconds(Math.Max(100, check.IntervalMs));
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(interval, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                int code;
                try
                {
                    // Exec.Wait blocks in waitpid on our own child: a thread-pool thread, not the reconciler's loop.
                    code = Exec.Wait(Exec.Start(root, id, new ExecOptions { Command = [.. check.Command] }));
                }
                catch (RtException)
                {
                    code = -1; // not running any more, or the command cannot start
                }
                if (ct.IsCancellationRequested) return;
                if (code == 0)
                {
                    failures = 0;
                    if (status != "healthy")
                    {
                        status = "healthy";
                        changed();
                    }
                    continue;
                }
                if (++failures >= Math.Max(1, check.Retries))
                {
                    status = "unhealthy";
                    changed();
                    unhealthy();
                    return;
                }
            }
        }, CancellationToken.None);
    }

    public void Dispose()
    {
        stop.Cancel(); // not disposed: the probe's task may still read the token
    }
}
