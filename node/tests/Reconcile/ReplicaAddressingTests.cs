using System.Diagnostics;
using System.Net;
using Tinyo.Api;
using Tinyo.Api.Statefile;
using Tinyo.Node.Reconcile;

namespace Tinyo.Node.Tests.Reconcile;

/// <summary>
/// The reconciler's hooks into cluster networks, against <see cref="FakeContainerHost"/> and a recording
/// <see cref="IReplicaNetworks"/>: a replica's namespace is attached before its container is made and joined by
/// path, with the cluster's DNS in its resolv.conf; a failed create or a removal detaches it; a network that cannot
/// be made leaves the replica in error without a container; names reach the cluster's DNS; tio down stops them.
/// </summary>
public sealed class ReplicaAddressingTests : IAsyncLifetime
{
    private readonly FakeContainerHost host = new();
    private readonly FakeNetworks net = new();
    private readonly List<(string App, AppStatus Status)> statuses = [];
    private Reconciler rc = null!;

    private sealed class FakeNetworks : IReplicaNetworks
    {
        public readonly List<string> Calls = [];
        public readonly Dictionary<string, IPAddress> Addresses = [];
        public readonly Dictionary<string, IReadOnlyList<ReplicaName>> Names = [];
        public string? FailAttach;
        private int next = 2;

        public Task RecoverAsync(IReadOnlyCollection<string> existingReplicas, CancellationToken ct)
        {
            lock (Calls) Calls.Add("recover " + string.Join(",", existingReplicas.Order()));
            return Task.CompletedTask;
        }

        public Task<ReplicaAttachment?> AttachAsync(AppSpec spec, string replica, CancellationToken ct)
        {
            lock (Calls)
            {
                Calls.Add("attach " + replica);
                if (spec.Network is not null) return Task.FromResult<ReplicaAttachment?>(null);
                if (FailAttach is { } why) throw new NodeException(why);
                var a = IPAddress.Parse("10.88.0." + next++);
                Addresses[replica] = a;
                return Task.FromResult<ReplicaAttachment?>(new ReplicaAttachment(spec.Net ?? "first", "/run/test-ns/" + replica, a, IPAddress.Parse("10.88.0.1")));
            }
        }

        public Task DetachAsync(string replica, CancellationToken ct)
        {
            lock (Calls)
            {
                Calls.Add("detach " + replica);
                Addresses.Remove(replica);
            }
            return Task.CompletedTask;
        }

        public IPAddress? AddressOf(string replica)
        {
            lock (Calls) return Addresses.GetValueOrDefault(replica);
        }

        public void Publish(string app, IReadOnlyList<ReplicaName> replicas)
        {
            lock (Calls) Names[app] = replicas;
        }

        public void Unpublish(string app)
        {
            lock (Calls) Names.Remove(app);
        }

        public Task StopAsync()
        {
            lock (Calls) Calls.Add("stop");
            return Task.CompletedTask;
        }

        public List<string> Of(string verb)
        {
            lock (Calls) return [.. Calls.Where(c => c.StartsWith(verb + " ", StringComparison.Ordinal) || c == verb)];
        }
    }

    private sealed class Status(List<(string App, AppStatus Status)> list) : IStatusSink
    {
        public void Set(string app, AppStatus s) { lock (list) list.Add((app, s)); }
        public void Remove(string app) { }
        public void Prune(HashSet<string> keep) { }
    }

    private sealed class NoSecrets : ISecretSource
    {
        public Task<byte[]?> OpenAsync(string name, CancellationToken ct) => Task.FromResult<byte[]?>(null);
    }

    public Task InitializeAsync()
    {
        rc = new Reconciler(new ReconcilerOptions
        {
            Node = "n1", Runtime = new Rt.RuntimeRoot("/nonexistent-fake-root"), RuntimeOptions = new(), SecretsDir = "/nonexistent-fake-secrets",
            StopGrace = TimeSpan.FromMilliseconds(10), Networks = net,
        }, host, new NoSecrets(), new Status(statuses));
        rc.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await rc.DisposeAsync();

    private static AppSpec Spec(string yaml, string name = "web") => Statefile.Parse(yaml, name + ".yml", null)[0];

    private AppStatus Last(string app)
    {
        lock (statuses) return statuses.Last(s => s.App == app).Status;
    }

    [Fact]
    public async Task Replicas_join_their_prepared_namespace_by_path_with_the_cluster_dns_and_their_address()
    {
        await rc.ApplyAsync(Spec("container: alpine\nreplicas: 2\n"));
        Assert.Equal(["attach web-1", "attach web-2"], net.Of("attach"));
        var o = host.ByName("web-1")!.Options!;
        Assert.Equal("ns:/run/test-ns/web-1", o.Network);
        Assert.Equal(["10.88.0.1"], o.Dns);
        Assert.Equal("10.88.0.2", o.HostAddress);
        var st = Last("web");
        Assert.Equal(["10.88.0.2", "10.88.0.3"], st.Containers.Select(c => c.Address));
        Assert.Equal([(1, "web-1", true), (2, "web-2", true)], net.Names["web"].Select(n => (n.Index, n.Replica, n.Healthy)));
    }

    [Fact]
    public async Task Network_none_and_host_get_no_cluster_namespace()
    {
        await rc.ApplyAsync(Spec("container: alpine\nnetwork: none\n", "a"));
        await rc.ApplyAsync(Spec("container: alpine\nnetwork: host\n", "b"));
        Assert.Equal("none", host.ByName("a-1")!.Options!.Network);
        Assert.Equal("host", host.ByName("b-1")!.Options!.Network);
        Assert.Empty(host.ByName("a-1")!.Options!.Dns);
        Assert.Null(Last("a").Containers[0].Address);
    }

    [Fact]
    public async Task A_create_that_fails_gives_the_address_back_and_removal_detaches()
    {
        host.FailRunWith = "no such image layer";
        await rc.ApplyAsync(Spec("container: alpine\n"));
        Assert.Equal(["attach web-1", "detach web-1"], net.Calls.Where(c => !c.StartsWith("recover", StringComparison.Ordinal)));
        Assert.Empty(net.Addresses);
        host.FailRunWith = null;
        await rc.ApplyAsync(Spec("container: alpine\nreplicas: 2\n"));
        Assert.Equal(2, net.Addresses.Count);
        await rc.ApplyAsync(Spec("container: alpine\nreplicas: 1\n"));
        Assert.Contains("detach web-2", net.Calls);
        await rc.RemoveAsync("web");
        Assert.Contains("detach web-1", net.Calls);
        Assert.Empty(net.Addresses);
        Assert.False(net.Names.ContainsKey("web"));
    }

    [Fact]
    public async Task A_network_that_cannot_be_made_leaves_the_replica_in_error_and_no_container()
    {
        net.FailAttach = "network of web-1 in net first: creating veth tv0: File exists";
        await rc.ApplyAsync(Spec("container: alpine\n"));
        Assert.Empty(host.CallsOf("run"));
        var st = Last("web");
        Assert.Equal("error", st.State);
        Assert.Contains("creating veth", st.Error ?? st.Containers[0].LastError);
    }

    [Fact]
    public async Task A_replica_that_exits_for_good_gives_its_address_back_and_sync_recovers_with_the_existing_replicas()
    {
        await rc.ApplyAsync(Spec("container: alpine\nrestart: never\n"));
        Assert.Single(net.Addresses);
        host.ExitProcess("web-1", 0);
        var sw = Stopwatch.StartNew();
        while (net.Addresses.Count > 0 && sw.ElapsedMilliseconds < 5000) await Task.Delay(10);
        Assert.Empty(net.Addresses);
        await rc.SyncAllAsync(new Dictionary<string, AppSpec> { ["web"] = Spec("container: alpine\nrestart: never\n") });
        Assert.Contains("recover web-1", net.Calls);
    }

    [Fact]
    public async Task Stopping_the_node_stops_the_networks()
    {
        await rc.ApplyAsync(Spec("container: alpine\n"));
        await rc.DisposeAsync();
        Assert.Equal("stop", net.Calls[^1]);
        rc = new Reconciler(new ReconcilerOptions
        {
            Node = "n1", Runtime = new Rt.RuntimeRoot("/nonexistent-fake-root"), RuntimeOptions = new(), SecretsDir = "/nonexistent-fake-secrets",
        }, host, new NoSecrets(), new Status(statuses));
    }
}
