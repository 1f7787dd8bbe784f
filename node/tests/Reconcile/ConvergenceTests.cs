using System.Diagnostics;
using Tinyo.Api;
using Tinyo.Api.Statefile;
using Tinyo.Node.Reconcile;
using Tinyo.Node.Runtime;
using Tinyo.Rt.Processes;

namespace Tinyo.Node.Tests.Reconcile;

/// <summary>
/// Convergence, supervision and re-adoption against <see cref="FakeContainerHost"/>: no root, no containers, no KV;
/// the whole class runs in a few seconds.
/// </summary>
public sealed class ConvergenceTests : IAsyncLifetime
{
    private readonly FakeContainerHost host = new();
    private readonly MemoryStatus status = new();
    private readonly MemorySecrets secrets = new();
    private readonly List<string> log = [];
    private Reconciler rc = null!;

    private sealed class MemorySecrets : ISecretSource
    {
        public Dictionary<string, string> Values { get; } = [];
        public Task<byte[]?> OpenAsync(string name, CancellationToken ct)
            => Task.FromResult(Values.TryGetValue(name, out var v) ? System.Text.Encoding.UTF8.GetBytes(v) : null);
    }

    private Reconciler New()
    {
        var r = new Reconciler(new ReconcilerOptions
        {
            Node = "n1", Runtime = new Rt.RuntimeRoot("/nonexistent-fake-root"), RuntimeOptions = new(), SecretsDir = "/nonexistent-fake-secrets",
            StopGrace = TimeSpan.FromMilliseconds(10), ForbiddenMountSources = ["/var/lib/tinyo"],
            Log = l => { lock (log) log.Add(l); },
        }, host, secrets, status);
        r.Start();
        return r;
    }

    public Task InitializeAsync()
    {
        rc = New();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await rc.DisposeAsync();

    private static AppSpec Spec(string yaml, string name = "web") => Statefile.Parse(yaml, name + ".yml", null)[0];

    private static async Task Until(Func<bool> cond, string what, int ms = 5000)
    {
        var sw = Stopwatch.StartNew();
        while (!cond())
        {
            if (sw.ElapsedMilliseconds > ms) Assert.Fail("timed out waiting for " + what);
            await Task.Delay(10);
        }
    }

    private AppStatus Status(string app = "web") => status.Of(app) ?? throw new Xunit.Sdk.XunitException($"no status for {app}");

    [Fact]
    public async Task Create_Unchanged_Update_Remove()
    {
        var spec = Spec("container: alpine\nreplicas: 2\nenv: { A: \"1\" }\n");
        await rc.ApplyAsync(spec);
        Assert.Equal(["run web-1", "run web-2"], host.CallsOf("run"));
        Assert.Equal("running", Status().State);
        Assert.All(Status().Containers, c => Assert.Equal("running", c.State));
        var first = host.ByName("web-1")!;
        Assert.Equal(SpecHash.Of(spec), first.Labels[ContainerSpec.SpecLabel]);
        // Careful defaults: every container is limited unless the statefile says otherwise.
        Assert.Equal(ContainerDefaults.Standard.MemoryBytes, first.Options!.Memory);
        Assert.Equal(ContainerDefaults.Standard.Pids, first.Options.Pids);
        Assert.Equal(["/var/lib/tinyo"], first.Options.ForbiddenMountSources);

        await rc.ApplyAsync(Spec("container: alpine\nreplicas: 2\nenv: { A: \"1\" }\n"));
        Assert.Equal(2, host.CallsOf("run").Count); // unchanged: kept
        Assert.Same(first, host.ByName("web-1"));

        await rc.ApplyAsync(Spec("container: alpine\nreplicas: 2\nenv: { A: \"2\" }\nresources: { memory: 64m, pids: 10 }\n"));
        Assert.Equal(["stop web-1", "stop web-2"], host.CallsOf("stop"));
        Assert.Equal(["remove web-1", "remove web-2"], host.CallsOf("remove"));
        Assert.Equal(4, host.CallsOf("run").Count);
        var second = host.ByName("web-1")!;
        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal(64L << 20, second.Options!.Memory);
        Assert.Equal(10, second.Options.Pids);
        Assert.Equal("running", Status().State);

        await rc.RemoveAsync("web");
        Assert.Empty(host.All());
        Assert.Null(status.Of("web"));
    }

    [Fact]
    public async Task ReplicasUpAndDown()
    {
        await rc.ApplyAsync(Spec("container: alpine\n"));
        await rc.ApplyAsync(Spec("container: alpine\nreplicas: 3\n"));
        Assert.Equal(["web-1", "web-2", "web-3"], host.All().Select(f => f.Name).Order());
        Assert.Equal(3, Status().Containers.Count);
        await rc.ApplyAsync(Spec("container: alpine\nreplicas: 1\n"));
        // Every replica is replaced (the hash covers the count), and 2 and 3 go.
        Assert.Equal(["web-1"], host.All().Select(f => f.Name));
        Assert.Single(Status().Containers);
        Assert.Equal("running", Status().State);
    }

    [Fact]
    public async Task RestartBacksOff_ShowsTheLastExit_NeverStaysExited()
    {
        await rc.ApplyAsync(Spec("container: alpine\nrestart: always\n"));
        var sw = Stopwatch.StartNew();
        host.ExitProcess("web-1", 137, 9, oom: true);
        await Until(() => host.CallsOf("restart").Count == 1, "first restart");
        var first = sw.Elapsed;
        await rc.IdleAsync();
        var c = Assert.Single(Status().Containers);
        Assert.Equal("running", c.State);
        Assert.Equal(1, c.Restarts);
        // Why it restarted: the last exit stays visible while it runs again.
        Assert.Equal((137, 9, true), (c.ExitCode, c.ExitSignal, c.OomKilled));

        sw.Restart();
        host.ExitProcess("web-1", 1);
        await Until(() => Status().Containers[0].State == "restarting", "restarting shown");
        await Until(() => host.CallsOf("restart").Count == 2, "second restart");
        var second = sw.Elapsed;
        Assert.InRange(first.TotalMilliseconds, 90, 2000);  // 100 ms
        Assert.InRange(second.TotalMilliseconds, 190, 3000); // doubled: 200 ms
        await rc.IdleAsync();
        Assert.Equal((1, null, null), (Status().Containers[0].ExitCode, Status().Containers[0].ExitSignal, Status().Containers[0].OomKilled));

        await rc.ApplyAsync(Spec("container: alpine\nrestart: never\n", "once"));
        host.ExitProcess("once-1", 0);
        await Until(() => status.Of("once")?.State == "exited", "once exited");
        await Task.Delay(300);
        Assert.DoesNotContain("restart once-1", host.CallsOf("restart"));
        Assert.Equal(0, status.Of("once")!.Containers[0].ExitCode);
    }

    [Fact]
    public async Task UnhealthyReplicaIsKilledAndRestarted()
    {
        await rc.ApplyAsync(Spec("container: alpine\nhealthcheck:\n  command: [\"false\"]\n  interval: 1s\n  retries: 2\n"));
        var f = host.ByName("web-1")!;
        var probe = f.Probe!;
        probe.FailAll();
        await Until(() => host.CallsOf("kill").Contains("kill web-1 9"), "kill of the unhealthy replica");
        await Until(() => host.CallsOf("restart").Count == 1, "restart after the kill");
        Assert.True(probe.Disposed); // the old container's probe stopped; the restarted one has its own
        Assert.NotSame(probe, host.ByName("web-1")!.Probe);
        await rc.IdleAsync();
        Assert.Equal("unhealthy", Status().Containers[0].LastError);
        Assert.Equal(9, Status().Containers[0].ExitSignal);
    }

    [Fact]
    public async Task AppErrorsAreShown_AndRetried()
    {
        host.MissingImages.Add("nosuch");
        await rc.ApplyAsync(Spec("container: nosuch\n"));
        Assert.Equal("error", Status().State);
        Assert.Contains("nosuch could not be pulled", Status().Error);
        host.MissingImages.Clear();
        await Until(() => status.Of("web")?.State == "running", "retried after at least 1 s", 4000);

        await rc.ApplyAsync(Spec("container: alpine\nsecrets:\n  - { name: db, env: DB }\n", "sec"));
        Assert.Equal("error", status.Of("sec")!.State);
        Assert.Contains("secret 'db' does not exist", status.Of("sec")!.Error);
        secrets.Values["db"] = "pw";
        await Until(() => status.Of("sec")?.State == "running", "secret found on retry", 4000);
        var opts = host.ByName("sec-1")!.Options!;
        Assert.Contains("DB=pw", opts.Env);
        var s = Assert.Single(opts.Volumes, v => v.Destination == "/run/secrets");
        Assert.True(s.ReadOnly && s.NoExec && s.Trusted);
    }

    [Fact]
    public async Task NodeRestart_ReadoptsRunning_RestartsStopped_RemovesStaleAndOrphans()
    {
        var web = Spec("container: alpine\nreplicas: 2\n");
        var worker = Spec("container: alpine\nrestart: on-failure\n", "worker");
        await rc.SyncAllAsync(new() { ["web"] = web, ["worker"] = worker });
        Assert.Equal(3, host.CallsOf("run").Count);
        await rc.DisposeAsync(); // `tio down`: containers stopped, kept
        Assert.All(host.All(), f => Assert.Equal("stopped", f.Status));

        // As after a kill -9: web-1 still runs, web-2 and worker-1 stopped, a container of an app deleted meanwhile,
        // and the empty directory of an interrupted create.
        host.Restart(host.ByName("web-1")!.Id);
        var gone = host.Add("old-1", new() { [ContainerSpec.AppLabel] = "old", [ContainerSpec.SpecLabel] = "x", [ContainerSpec.ReplicaLabel] = "1" });
        host.Add("half", [], status: "created", incomplete: true);
        host.Calls.Clear();
        rc = New();
        await rc.SyncAllAsync(new() { ["web"] = web, ["worker"] = worker });
        Assert.Empty(host.CallsOf("run")); // nothing duplicated
        Assert.Equal(["orphan half"], host.CallsOf("orphan"));
        Assert.Contains("remove old-1", host.Calls);
        Assert.Null(host.ByName(gone.Name));
        // web-1 re-adopted as it runs; web-2 (always) and worker-1 (on-failure, stopped by SIGTERM) started in place.
        Assert.DoesNotContain("restart web-1", host.Calls);
        Assert.Contains("restart web-2", host.Calls);
        Assert.Contains("restart worker-1", host.Calls);
        Assert.Equal("running", Status().State);

        // The re-adopted replica is supervised: its exit restarts it.
        host.ExitProcess("web-1", 2);
        await Until(() => host.CallsOf("restart").Contains("restart web-1"), "re-adopted replica restarted");
    }
}
