using System.Diagnostics;
using Tinyo.Api;
using Tinyo.Api.Statefile;
using Tinyo.Node.Reconcile;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;

namespace Tinyo.Node.Tests.Reconcile;

/// <summary>
/// Scale-up by duplication (<see cref="ReplicaDuplicate"/>) against <see cref="FakeContainerHost"/>: raising
/// <c>replicas</c> duplicates a replica that ran before, a first apply starts every replica from the image, a refused
/// duplication or no running replica falls back to an ordinary start, and the status says which replica came from which.
/// </summary>
public sealed class DuplicateScaleUpTests : IAsyncLifetime
{
    private readonly FakeContainerHost host = new();
    private readonly MemoryStatus status = new();
    private readonly List<string> log = [];
    private Reconciler rc = null!;

    private sealed class NoSecrets : ISecretSource
    {
        public Task<byte[]?> OpenAsync(string name, CancellationToken ct) => Task.FromResult<byte[]?>(null);
    }

    public Task InitializeAsync()
    {
        rc = new Reconciler(new ReconcilerOptions
        {
            Node = "n1", Runtime = new Rt.RuntimeRoot("/nonexistent-fake-root"), RuntimeOptions = new(), SecretsDir = "/nonexistent-fake-secrets",
            StopGrace = TimeSpan.FromMilliseconds(10), Log = l => { lock (log) log.Add(l); },
        }, host, new NoSecrets(), status);
        rc.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await rc.DisposeAsync();

    private static AppSpec Spec(string yaml, string name = "web") => Statefile.Parse(yaml, name + ".yml", null)[0];

    private AppStatus Status(string app = "web") => status.Of(app) ?? throw new Xunit.Sdk.XunitException($"no status for {app}");

    [Fact]
    public async Task Raising_replicas_duplicates_a_replica_that_ran_before()
    {
        await rc.ApplyAsync(Spec("container: alpine\n"));
        Assert.Equal(["run web-1"], host.CallsOf("run"));
        var spec4 = Spec("container: alpine\nreplicas: 4\n");
        // Replicas only count as a source once they ran before the pass that scales up.
        await rc.ApplyAsync(spec4);
        Assert.Equal(["dup web-1 web-2", "dup web-1 web-3", "dup web-1 web-4"], host.CallsOf("dup"));
        Assert.Equal(["run web-1"], host.CallsOf("run"));
        var web3 = host.ByName("web-3")!;
        Assert.Equal("3", web3.Labels[ContainerSpec.ReplicaLabel]);
        Assert.Equal(SpecHash.Of(spec4), web3.Labels[ContainerSpec.SpecLabel]);
        Assert.Equal("web-3", web3.Options!.Hostname);
        var st = Status();
        Assert.Equal("running", st.State);
        Assert.Null(st.Containers.Single(c => c.Name == "web-1").DuplicatedFrom);
        Assert.All(st.Containers.Where(c => c.Name != "web-1"), c => Assert.Equal("web-1", c.DuplicatedFrom));
    }

    [Fact]
    public async Task A_first_apply_starts_every_replica_from_the_image()
    {
        await rc.ApplyAsync(Spec("container: alpine\nreplicas: 3\n"));
        Assert.Equal(["run web-1", "run web-2", "run web-3"], host.CallsOf("run"));
        Assert.Empty(host.CallsOf("dup"));
        Assert.All(Status().Containers, c => Assert.Null(c.DuplicatedFrom));
    }

    [Fact]
    public async Task A_refused_duplication_falls_back_to_a_start_from_the_image()
    {
        await rc.ApplyAsync(Spec("container: alpine\n"));
        host.FailDuplicateWith = "snapshot of the writable layer: no space left on the device";
        await rc.ApplyAsync(Spec("container: alpine\nreplicas: 2\n"));
        Assert.Equal(["dup web-1 web-2"], host.CallsOf("dup"));
        Assert.Equal(["run web-1", "run web-2"], host.CallsOf("run"));
        Assert.Null(Status().Containers.Single(c => c.Name == "web-2").DuplicatedFrom);
        lock (log) Assert.Contains(log, l => l.Contains("duplicating web-1 into web-2 failed (snapshot of the writable layer: no space left"));
    }

    [Fact]
    public async Task Without_a_running_replica_the_new_one_starts_from_the_image()
    {
        await rc.ApplyAsync(Spec("container: alpine\nrestart: never\n"));
        host.ExitProcess("web-1", 0);
        var sw = Stopwatch.StartNew();
        while (Status().Containers.Single().State != "exited" && sw.ElapsedMilliseconds < 5000) await Task.Delay(10);
        await rc.ApplyAsync(Spec("container: alpine\nrestart: never\nreplicas: 2\n"));
        Assert.Empty(host.CallsOf("dup"));
        Assert.Equal(["run web-1", "run web-2"], host.CallsOf("run"));
    }

    [Fact]
    public void The_replica_count_is_not_part_of_the_spec_hash()
    {
        Assert.Equal(SpecHash.Of(Spec("container: alpine\n")), SpecHash.Of(Spec("container: alpine\nreplicas: 7\n")));
        Assert.NotEqual(SpecHash.Of(Spec("container: alpine\n")), SpecHash.Of(Spec("container: alpine\nenv: { A: \"1\" }\n")));
        // Unchanged for a one-replica app: its running containers are not replaced by this rule.
        var one = Spec("container: alpine\n");
        var plain = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(one, ApiJson.Default.AppSpec)))[..16];
        Assert.Equal(plain, SpecHash.Of(one));
    }

    [Fact]
    public void A_duplicate_gets_the_new_replica_s_labels_and_secrets_directory()
    {
        var spec = DefaultSpec.Create(["sh"], "web-1");
        spec.Annotations = new() { [ContainerSpec.AppLabel] = "web", [ContainerSpec.ReplicaLabel] = "1", [ContainerSpec.SpecLabel] = "h1", ["other"] = "kept" };
        spec.Mounts!.Add(new SpecMount { Destination = "/run/secrets", Type = "bind", Source = "/secrets/web-1", Options = ["rbind", "ro"] });
        spec.Mounts.Add(new SpecMount { Destination = "/data", Type = "bind", Source = "/srv/data", Options = ["rbind"] });
        var o = ContainerSpec.For(Spec("container: alpine\nreplicas: 3\nmounts: [{source: /srv/data, target: /data}]\n"), 3, "h1", "/secrets/web-3", []);
        ReplicaDuplicate.Adjust(spec, o);
        Assert.Equal("3", spec.Annotations[ContainerSpec.ReplicaLabel]);
        Assert.Equal("kept", spec.Annotations["other"]);
        Assert.Equal("/secrets/web-3", spec.Mounts.Single(m => m.Destination == "/run/secrets").Source);
        Assert.Equal("/srv/data", spec.Mounts.Single(m => m.Destination == "/data").Source);
    }
}
