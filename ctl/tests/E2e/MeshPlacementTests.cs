using System.Diagnostics;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Rt.Images;
using Xunit.Abstractions;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// Placement and node loss across 3 network-namespace hosts (issue 14), with real containers (busybox from the
/// mirror registry fixture, put into each host's store first: the hosts are offline): replicas spread, kill -9 of a
/// node's daemons → its replicas run elsewhere (timed), the node back → its moved copies stopped (no duplicate),
/// and <c>tio node -</c> drains a node and removes it.
/// </summary>
[Collection("e2e")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class MeshPlacementTests(MirrorRegistry registry, ITestOutputHelper output) : IClassFixture<MirrorRegistry>
{
    private const string Net = "mesh";
    private const int Replicas = 3;

    private static void Ok((int Code, string Out, string Err) r, MeshHost h, string what)
        => Assert.True(r.Code == 0, $"{what} on {h.Name} failed ({r.Code}): {r.Out}{r.Err}\n--- tinyonode\n{h.Log("tinyonode")}");

    /// <summary>Where each replica of web runs (running replicas only), as <c>tio ls -o json</c> on <paramref name="h"/> shows it.</summary>
    private static async Task<List<(string Name, string? Node)>?> RunningAsync(MeshHost h)
    {
        var r = await h.Tio(["ls", "-o", "json"]);
        if (r.Code != 0) return null;
        var web = JsonSerializer.Deserialize(r.Out, ApiJson.Default.ListAppInfo)?.FirstOrDefault(a => a.Name == "web");
        return web?.Containers?.Where(c => c.State == "running").Select(c => (c.Name, c.Node)).ToList();
    }

    private static async Task<List<(string Name, string? Node)>> WaitAsync(MeshHost h, Func<List<(string Name, string? Node)>, bool> done, TimeSpan limit, string what)
    {
        var deadline = DateTime.UtcNow + limit;
        List<(string, string?)>? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await RunningAsync(h);
            if (last is not null && done(last)) return last;
            await Task.Delay(200);
        }
        var ls = await h.Tio(["ls"]);
        Assert.Fail($"{what}: not within {limit.TotalSeconds} s; last seen: {string.Join(", ", (last ?? []).Select(x => $"{x.Item1}@{x.Item2}"))}\n"
                    + $"tio ls on {h.Name}: {ls.Out}{ls.Err}\n--- tinyonode of {h.Name}\n{Tail(h.Log("tinyonode"))}");
        return [];
    }

    private static string Tail(string log) => log.Length > 6000 ? log[^6000..] : log;

    private static Tinyo.Rt.Containers.ImageContainers Rt(MeshHost h)
        => new(new Tinyo.Rt.RuntimeRoot(Path.Combine(h.Root, "rt")), new Tinyo.Rt.Containers.RuntimeOptions());

    /// <summary>Replicas of app web that run in a host's runtime root (what the kernel runs, not what the KV says).</summary>
    private static int LocalCopies(MeshHost h)
        => Directory.Exists(Path.Combine(h.Root, "rt")) ? Rt(h).List().Count(s => s.Name.StartsWith("web-", StringComparison.Ordinal) && s.Status == "running") : 0;

    /// <summary>Whatever containers are left in a host's root: removed (process, cgroup, dirs) by id.</summary>
    private static void RemoveContainers(MeshHost h)
    {
        if (!Directory.Exists(Path.Combine(h.Root, "rt"))) return;
        var rt = Rt(h);
        foreach (var s in rt.List())
        {
            try { rt.Remove(s.Id, force: true); }
            catch (Tinyo.Rt.RtException) { }
        }
    }

    [SkippableFact]
    public async Task Replicas_spread_move_off_a_killed_node_within_10_s_never_run_twice_and_drain()
    {
        var why = MeshHosts.CannotRun();
        Skip.If(why is not null, why);
        await using var mesh = await MeshHosts.CreateAsync(3);
        var (a, b, c) = (mesh.Hosts[0], mesh.Hosts[1], mesh.Hosts[2]);
        try
        {
            Ok(await a.Tio(["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "--addr", a.Address]), a, "tio ++ --addr");
            foreach (var h in (MeshHost[])[b, c])
                Ok(await h.Tio(["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "-ip", a.Address]), h, "tio ++ -ip");
            foreach (var h in mesh.Hosts)
                await new ImageSource(new ImageStore(new Tinyo.Rt.RuntimeRoot(Path.Combine(h.Root, "rt"))), [registry.Mirror], true, _ => { }).GetAsync("busybox:latest", CancellationToken.None);

            // A constraint naming no node is refused at its line:col.
            var bad = Path.Combine(b.Dir, "bad.yml");
            await File.WriteAllTextAsync(bad, "name: bad\ncontainer: busybox:latest\nnode: nowhere\n");
            var refused = await b.Tio(["+", bad]);
            Assert.NotEqual(0, refused.Code);
            Assert.Contains("3:7", refused.Err);
            Assert.Contains("no node 'nowhere'", refused.Err);

            var app = Path.Combine(b.Dir, "web.yml");
            await File.WriteAllTextAsync(app, $"name: web\ncontainer: busybox:latest\ncommand: [\"sleep\", \"3600\"]\nreplicas: {Replicas}\nnetwork: none\n");
            var sw = Stopwatch.StartNew();
            Ok(await b.Tio(["+", app]), b, "tio +");
            var spread = await WaitAsync(b, l => l.Count == Replicas, TimeSpan.FromSeconds(90), "3 replicas running");
            output.WriteLine($"apply → {Replicas} replicas running on their nodes: {sw.ElapsedMilliseconds} ms; {string.Join(", ", spread.Select(x => $"{x.Name}@{x.Node}"))}");
            // Spread: one replica per node.
            Assert.Equal(mesh.Hosts.Select(h => h.Name).Order(), spread.Select(x => x.Node!).Order());
            var ls = await b.Tio(["ls"]);
            Assert.Contains("NODE", ls.Out);
            Assert.Contains($"web-1: on ", ls.Out);

            // kill -9 of C's daemons: its replica runs on A or B within the goal (lease 3 s in these tests).
            var onC = spread.Single(x => x.Node == c.Name).Name;
            c.KillDaemons();
            sw.Restart();
            var moved = await WaitAsync(b, l => l.Count == Replicas && l.All(x => x.Node != c.Name), TimeSpan.FromSeconds(60), "replica moved off the killed node");
            var reschedule = sw.Elapsed;
            output.WriteLine($"kill -9 of {c.Name} → {onC} running on {moved.Single(x => x.Name == onC).Node}: {reschedule.TotalMilliseconds:0} ms (lease TTL 3 s)");
            Assert.True(reschedule < TimeSpan.FromSeconds(10), $"rescheduled in {reschedule}");
            // C's old copy still runs while its node daemon is gone (containers outlive the daemon).
            Assert.Equal(1, LocalCopies(c));

            // C back: it stops the copy that moved away; one copy of each replica in the whole cluster.
            Ok(await c.Tio(["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "-ip", a.Address]), c, "tio ++ (back)");
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (LocalCopies(c) > 0 && DateTime.UtcNow < deadline) await Task.Delay(200);
            Assert.Equal(0, LocalCopies(c));
            Assert.Equal(Replicas, mesh.Hosts.Sum(LocalCopies));
            var after = await WaitAsync(b, l => l.Count == Replicas, TimeSpan.FromSeconds(30), "still 3 replicas");
            Assert.Equal(Replicas, after.Select(x => x.Name).Distinct().Count());

            // tio node - B (run on A): B's replicas move, then B leaves the registry.
            var onB = after.Where(x => x.Node == b.Name).Select(x => x.Name).ToList();
            sw.Restart();
            var rm = await a.Tio(["node", "-", b.Name]);
            Ok(rm, a, "tio node -");
            output.WriteLine($"tio node - {b.Name} ({onB.Count} replica(s)): {sw.ElapsedMilliseconds} ms; {rm.Out.Trim()}");
            Assert.Contains("removed from the cluster", rm.Out);
            var drained = await WaitAsync(a, l => l.Count == Replicas, TimeSpan.FromSeconds(30), "3 replicas after the drain");
            Assert.DoesNotContain(drained, x => x.Node == b.Name);
            Assert.Equal(0, LocalCopies(b));
            Assert.DoesNotContain(b.Name, (await a.Tio(["node", "ls"])).Out);
        }
        finally
        {
            // Containers outlive their node's daemons: remove the app, then stop every node (containers with it).
            await a.Tio(["-", "web"]);
            await Task.Delay(2000);
            foreach (var h in mesh.Hosts) await h.Tio(["down", "--no-drain"]);
            foreach (var h in mesh.Hosts) RemoveContainers(h);
        }
    }
}
