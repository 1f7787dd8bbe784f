using System.Diagnostics;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Rt.Images;
using Xunit.Abstractions;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// Fencing on a partition (issue 14) across 3 network-namespace hosts with real containers: host C's link is cut
/// (<c>ip link set eth0 down</c> inside C's own namespace: C's KV member and node lose the majority, nothing of the
/// machine is touched). C's lease can no longer be renewed: C stops its copies (fenced) while A and B see the lease
/// expire and start C's replica elsewhere — the duplicate window, if any, is measured and bounded. A replica pinned to
/// C (<c>node: node-c</c>) is stopped too and stays pending. Healed: C owns only what placement assigns it — the moved
/// replica stays stopped on C, the pinned one starts again there — and every replica runs exactly once.
/// </summary>
[Collection("e2e")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class MeshFencingTests(MirrorRegistry registry, ITestOutputHelper output) : IClassFixture<MirrorRegistry>
{
    private const string Net = "mesh";
    private const int Replicas = 3;

    private static void Ok((int Code, string Out, string Err) r, MeshHost h, string what)
        => Assert.True(r.Code == 0, $"{what} on {h.Name} failed ({r.Code}): {r.Out}{r.Err}\n--- tinyonode\n{Tail(h.Log("tinyonode"))}");

    private static string Tail(string log) => log.Length > 6000 ? log[^6000..] : log;

    private static Tinyo.Rt.Containers.ImageContainers Rt(MeshHost h)
        => new(new Tinyo.Rt.RuntimeRoot(Path.Combine(h.Root, "rt")), new Tinyo.Rt.Containers.RuntimeOptions());

    /// <summary>Running copies of an app's replicas in a host's runtime root (what the kernel runs, not what the KV says).</summary>
    internal static List<string> LocalCopies(MeshHost h, string app)
    {
        if (!Directory.Exists(Path.Combine(h.Root, "rt"))) return [];
        try
        {
            return Rt(h).List().Where(s => s.Name.StartsWith(app + "-", StringComparison.Ordinal) && s.Status == "running").Select(s => s.Name).ToList();
        }
        catch (Exception e) when (e is IOException or Tinyo.Rt.RtException or JsonException)
        {
            return []; // a container being created or removed at this moment: the next poll sees it settled
        }
    }

    /// <summary>Whatever containers are left in a host's root: removed (process, cgroup, dirs) by id.</summary>
    internal static void RemoveContainers(MeshHost h)
    {
        if (!Directory.Exists(Path.Combine(h.Root, "rt"))) return;
        var rt = Rt(h);
        foreach (var s in rt.List())
        {
            try { rt.Remove(s.Id, force: true); }
            catch (Tinyo.Rt.RtException) { }
        }
    }

    /// <summary>Where each replica of <paramref name="app"/> runs (running replicas only), as <c>tio ls -o json</c> on <paramref name="h"/> shows it.</summary>
    internal static async Task<List<(string Name, string? Node)>?> RunningAsync(MeshHost h, string app)
    {
        var r = await h.Tio(["ls", "-o", "json"]);
        if (r.Code != 0) return null;
        var a = JsonSerializer.Deserialize(r.Out, ApiJson.Default.ListAppInfo)?.FirstOrDefault(x => x.Name == app);
        return a?.Containers?.Where(c => c.State == "running").Select(c => (c.Name, c.Node)).ToList();
    }

    private static async Task Until(Func<Task<bool>> done, TimeSpan limit, Func<Task<string>> what)
    {
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline)
        {
            if (await done()) return;
            await Task.Delay(100);
        }
        Assert.Fail($"not within {limit.TotalSeconds} s: {await what()}");
    }

    /// <summary>Copies of each replica of <paramref name="app"/> across all hosts: name → count.</summary>
    internal static Dictionary<string, int> Copies(MeshHosts mesh, string app)
        => mesh.Hosts.SelectMany(h => LocalCopies(h, app)).GroupBy(n => n).ToDictionary(g => g.Key, g => g.Count());

    internal static async Task JoinAsync(MeshHosts mesh, MirrorRegistry registry)
    {
        var a = mesh.Hosts[0];
        Ok(await a.Tio(["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "--addr", a.Address]), a, "tio ++ --addr");
        foreach (var h in mesh.Hosts.Skip(1))
            Ok(await h.Tio(["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "-ip", a.Address]), h, "tio ++ -ip");
        foreach (var h in mesh.Hosts)
            await new ImageSource(new ImageStore(new Tinyo.Rt.RuntimeRoot(Path.Combine(h.Root, "rt"))), [registry.Mirror], true, _ => { }).GetAsync("busybox:latest", CancellationToken.None);
    }

    /// <summary>Removes the apps, stops every node (containers with it) and removes what is left, whatever happened.</summary>
    internal static async Task TearDownAsync(MeshHosts mesh, params string[] apps)
    {
        if (mesh.Hosts.Count == 0) return;
        foreach (var app in apps) await mesh.Hosts[0].Tio(["-", app]);
        await Task.Delay(2000);
        foreach (var h in mesh.Hosts) await h.Tio(["down", "--no-drain"]);
        foreach (var h in mesh.Hosts) h.KillDaemons();
        foreach (var h in mesh.Hosts) RemoveContainers(h);
    }

    [SkippableFact]
    public async Task A_node_cut_off_from_the_kv_stops_its_copies_as_its_lease_expires_and_after_healing_each_replica_runs_once()
    {
        var why = MeshHosts.CannotRun();
        Skip.If(why is not null, why);
        await using var mesh = await MeshHosts.CreateAsync(3);
        var (a, b, c) = (mesh.Hosts[0], mesh.Hosts[1], mesh.Hosts[2]);
        var cut = false;
        try
        {
            await JoinAsync(mesh, registry);
            var web = Path.Combine(a.Dir, "web.yml");
            await File.WriteAllTextAsync(web, $"name: web\ncontainer: busybox:latest\ncommand: [\"sleep\", \"3600\"]\nreplicas: {Replicas}\nnetwork: none\n");
            var pin = Path.Combine(a.Dir, "pin.yml");
            await File.WriteAllTextAsync(pin, $"name: pin\ncontainer: busybox:latest\ncommand: [\"sleep\", \"3600\"]\nnode: {c.Name}\nnetwork: none\n");
            Ok(await a.Tio(["+", web]), a, "tio + web");
            Ok(await a.Tio(["+", pin]), a, "tio + pin");
            await Until(async () => (await RunningAsync(a, "web"))?.Count == Replicas && LocalCopies(c, "pin").Count == 1 && LocalCopies(c, "web").Count == 1,
                TimeSpan.FromSeconds(90), async () => $"3 replicas of web spread and pin on {c.Name}; tio ls: {(await a.Tio(["ls"])).Out}");
            var onC = LocalCopies(c, "web").Single();
            output.WriteLine($"spread: {string.Join(", ", mesh.Hosts.Select(h => $"{h.Name}: {string.Join(' ', LocalCopies(h, "web"))}"))}; pin on {c.Name}");

            // Cut C off: its link goes down inside its own namespace.
            await MeshHosts.Ip("-n", c.Netns, "link", "set", "eth0", "down");
            cut = true;
            var sw = Stopwatch.StartNew();
            TimeSpan? stoppedOnC = null, runningElsewhere = null, pinStopped = null;
            var duplicate = TimeSpan.Zero; // polled time with two running copies of C's replica
            var last = sw.Elapsed;
            while (sw.Elapsed < TimeSpan.FromSeconds(45) && (stoppedOnC is null || runningElsewhere is null || pinStopped is null))
            {
                var copies = Copies(mesh, "web").GetValueOrDefault(onC);
                var onCNow = LocalCopies(c, "web").Contains(onC);
                var elsewhere = LocalCopies(a, "web").Contains(onC) || LocalCopies(b, "web").Contains(onC);
                var now = sw.Elapsed;
                if (copies > 1) duplicate += now - last;
                last = now;
                if (!onCNow) stoppedOnC ??= now;
                if (elsewhere) runningElsewhere ??= now;
                if (LocalCopies(c, "pin").Count == 0) pinStopped ??= now;
                await Task.Delay(50);
            }
            var cLog = Tail(c.Log("tinyonode"));
            Assert.True(stoppedOnC is not null, $"{onC} still runs on the cut-off {c.Name} after 45 s\n--- tinyonode of {c.Name}\n{cLog}");
            Assert.True(pinStopped is not null, $"pin still runs on the cut-off {c.Name} after 45 s\n--- tinyonode of {c.Name}\n{cLog}");
            Assert.True(runningElsewhere is not null, $"{onC} not started on {a.Name} or {b.Name} within 45 s; tio ls: {(await a.Tio(["ls"])).Out}\n{Tail(a.Log("tinyonode"))}");
            output.WriteLine($"cut {c.Name} (lease 3 s, fence margin 0.6 s, fenced stop grace 0.3 s): its copy of {onC} stopped after {stoppedOnC!.Value.TotalMilliseconds:0} ms, "
                             + $"pin after {pinStopped!.Value.TotalMilliseconds:0} ms; {onC} running on the majority side after {runningElsewhere!.Value.TotalMilliseconds:0} ms; "
                             + $"two copies seen for {duplicate.TotalMilliseconds:0} ms");
            Assert.Contains("fenced", cLog);
            // The fence closes 0.6 s before the lease can expire (≤ 2.4 s after the cut) and kills within 0.3 s (busybox
            // sleep as PID 1 ignores SIGTERM); the others start after the expiry (≥ 2 s after the cut) plus detection.
            Assert.True(stoppedOnC < TimeSpan.FromSeconds(6), $"the cut node stopped its copy only after {stoppedOnC}");
            Assert.True(duplicate < TimeSpan.FromSeconds(1.5), $"two copies of {onC} ran for {duplicate}");
            Assert.True(runningElsewhere < TimeSpan.FromSeconds(15), $"rescheduled after {runningElsewhere}");
            // The majority side saw C lost and says why pin waits.
            await Until(async () => (await a.Tio(["ls"])).Out.Contains("pin") && (await a.Tio(["node", "ls"])).Out.Contains("lost"), TimeSpan.FromSeconds(20),
                async () => $"node ls: {(await a.Tio(["node", "ls"])).Out}");
            // While cut off, C starts nothing again (its reconciler keeps converging with the fence closed).
            await Task.Delay(3000);
            Assert.Empty(LocalCopies(c, "web"));
            Assert.Empty(LocalCopies(c, "pin"));

            // Heal: C renews, reads the assignments, keeps the moved replica stopped and starts the pinned one again.
            await MeshHosts.Ip("-n", c.Netns, "link", "set", "eth0", "up");
            cut = false;
            sw.Restart();
            await Until(() => Task.FromResult(LocalCopies(c, "pin").Count == 1), TimeSpan.FromSeconds(60),
                async () => $"pin not back on {c.Name}; tio ls: {(await c.Tio(["ls"])).Out}\n--- tinyonode of {c.Name}\n{Tail(c.Log("tinyonode"))}");
            output.WriteLine($"healed: pin running on {c.Name} again after {sw.ElapsedMilliseconds} ms");
            Assert.Contains("fence open", c.Log("tinyonode"));
            // Exactly one copy of each replica, and it stays so.
            for (var i = 0; i < 20; i++)
            {
                var copies = Copies(mesh, "web");
                Assert.True(copies.Count == Replicas && copies.Values.All(n => n == 1), $"after healing: {string.Join(", ", copies.Select(x => $"{x.Key}×{x.Value}"))}");
                Assert.DoesNotContain(onC, LocalCopies(c, "web"));
                Assert.Single(mesh.Hosts.SelectMany(h => LocalCopies(h, "pin")));
                await Task.Delay(250);
            }
            var view = await RunningAsync(a, "web");
            Assert.NotNull(view);
            Assert.Equal(Replicas, view!.Select(x => x.Name).Distinct().Count());
            Assert.Contains((await a.Tio(["node", "ls"])).Out.Split('\n'), l => l.Contains(c.Name) && l.Contains("ready"));
        }
        finally
        {
            if (cut) await MeshHosts.Ip("-n", c.Netns, "link", "set", "eth0", "up");
            await TearDownAsync(mesh, "web", "pin");
        }
    }
}
