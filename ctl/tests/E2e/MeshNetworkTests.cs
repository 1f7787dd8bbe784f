using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Tinyo.Api;
using Tinyo.Rt;
using Tinyo.Rt.Images;
using Xunit.Abstractions;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// Cluster networks across nodes (issue 14), through the real binaries on network-namespace hosts
/// (<see cref="MeshHosts"/>): a cluster's replicas on different nodes reach each other by address and by name over
/// the VXLAN overlay; a replica of another cluster reaches neither; a lost node's routes go; <c>tio down</c> leaves no
/// VXLAN device, overlay route or table. Which node runs which replica is read from the hosts (each node's bridge
/// carries its subnet of the cluster), not assumed from placement.
/// </summary>
[Collection("e2e")]
public sealed partial class MeshNetworkTests(MirrorRegistry registry, ITestOutputHelper output) : IClassFixture<MirrorRegistry>
{
    private const string Net = "mesh";
    private const string Http = """["sh", "-c", "mkdir -p /www && echo page-of-$(hostname)-at-$(hostname -i) > /www/index.html && exec httpd -f -p 7000 -h /www"]""";

    private static void Ok((int Code, string Out, string Err) r, MeshHost h, string what)
        => Assert.True(r.Code == 0, $"{what} on {h.Name} failed ({r.Code}): {r.Out}{r.Err}\n--- tinyonode\n{h.Log("tinyonode")}");

    [GeneratedRegex(@"inet (10\.\d+\.\d+)\.1/(\d+) .*? (tb[0-9a-f]+)")]
    private static partial Regex BridgeAddress();

    [SkippableFact]
    public async Task Replicas_on_different_nodes_talk_by_address_and_name_other_clusters_cannot_and_nothing_is_left()
    {
        var why = MeshHosts.CannotRun();
        Skip.If(why is not null, why);
        Skip.If(!File.Exists("/usr/sbin/nft") && !File.Exists("/usr/bin/nft"), "nft is not installed (make deps)");
        // Three hosts: with two, the kill -9 of one takes the KV's majority with it and nothing could notice the loss.
        await using var mesh = await MeshHosts.CreateAsync(3);
        var (a, b) = (mesh.Hosts[0], mesh.Hosts[1]);
        try
        {
            // The nodes cannot reach the mirror on the machine's loopback from their namespaces: busybox goes into
            // each node's store first (the hosts run with TINYO_OFFLINE=1).
            foreach (var h in mesh.Hosts)
                await new ImageSource(new ImageStore(new RuntimeRoot(Path.Combine(h.Root, "rt"))), [registry.Mirror], true, _ => { })
                    .GetAsync("busybox:latest", CancellationToken.None);
            Ok(await Tio(a, ["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "--addr", a.Address]), a, "tio ++ --addr");
            // A refused join leaves the host as it was, so it is retried: on a loaded machine the joiner's first TLS
            // exchange (JIT builds) can outlast its 5 s answer limit.
            foreach (var h in mesh.Hosts.Skip(1))
            {
                var joined = await Tio(h, ["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "-ip", a.Address]);
                for (var i = 0; i < 3 && joined.Code != 0 && joined.Err.Contains("did not answer"); i++)
                    joined = await Tio(h, ["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "-ip", a.Address]);
                Ok(joined, h, "tio ++ -ip");
            }
            Ok(await Tio(a, ["net", "+", "other"]), a, "tio net + other");
            var srv = Path.Combine(a.Dir, "srv.yml");
            await File.WriteAllTextAsync(srv, $"name: srv\ncontainer: busybox:latest\ncommand: {Http}\nreplicas: 6\n");
            Ok(await Tio(a, ["+", srv]), a, "tio + srv");
            var iso = Path.Combine(a.Dir, "iso.yml");
            await File.WriteAllTextAsync(iso, $"name: iso\ncontainer: busybox:latest\ncommand: {Http}\nreplicas: 6\nnet: other\n");
            Ok(await Tio(a, ["+", iso]), a, "tio + iso");
            var web = Path.Combine(a.Dir, "web.yml");
            await File.WriteAllTextAsync(web, $"name: web\ncontainer: busybox:latest\ncommand: {Http}\nport: \"18080:7000\"\n");
            Ok(await Tio(a, ["+", web]), a, "tio + web");

            // Where each replica runs: the address it has lies in the subnet of its node's bridge.
            var sw = Stopwatch.StartNew();
            List<Placed> where = [];
            while (sw.Elapsed < TimeSpan.FromSeconds(120))
            {
                where = await PlacedAsync(mesh, a);
                if (mesh.Hosts.All(h => where.Any(w => w.Host == h && w.App == "srv")) && where.Any(w => w.Host == a && w.App == "iso")
                    && where.Any(w => w.App == "web")) break;
                await Task.Delay(500);
            }
            output.WriteLine(string.Join("\n", where.Select(w => $"{w.App}-{w.Index} on {w.Host.Name} at {w.Address}")));
            var onA = where.FirstOrDefault(w => w.Host == a && w.App == "srv");
            var onB = where.FirstOrDefault(w => w.Host == b && w.App == "srv");
            Assert.True(onA is not null && onB is not null, $"srv needs a replica on each node: {string.Join(", ", where)}\n{a.Log("tinyonode")}");
            var isoOnA = where.First(w => w.Host == a && w.App == "iso");

            // By address, across nodes (the overlay is made from the KV watch: give it its first seconds).
            var page = $"page-of-srv-{onB.Index}-at-{onB.Address}";
            string got = "";
            sw.Restart();
            while (sw.Elapsed < TimeSpan.FromSeconds(30) && !got.Contains(page)) got = await Get(onA, onB.Address);
            Assert.True(got.Contains(page), $"{onA} → {onB}: {got}\n{a.Log("tinyonode")}\n{b.Log("tinyonode")}");
            Assert.Contains($"page-of-srv-{onA.Index}-at-{onA.Address}", await Get(onB, onA.Address)); // and back

            // By name: the app's name gives the replicas on the other node too, and TCP by name reaches one there.
            var look = await Exec(onA, "nslookup srv");
            Assert.Contains(onB.Address, look);
            // TCP by name: a replica name that only the other node runs (placement) reaches it there. While every node runs
            // every replica, each name has a local holder (preferred), and the app name's answers are sorted by the
            // resolver (getaddrinfo puts the longest matching prefix, this node's subnet, first): the other node's
            // replica is then reached by the address the name gave.
            var onlyOnB = where.FirstOrDefault(w => w.Host == b && w.App == "srv" && !where.Any(x => x.Host == a && x.App == "srv" && x.Index == w.Index));
            if (onlyOnB is not null) Assert.Contains($"-at-{onlyOnB.Address}", await Get(onA, $"srv-{onlyOnB.Index}"));
            else Assert.Contains(page, await Get(onA, onB.Address));
            // Another cluster: not by address, not by name, either way.
            Assert.DoesNotContain("page-of", await Get(isoOnA, onB.Address));
            Assert.DoesNotContain(onB.Address, await Exec(isoOnA, "nslookup srv"));
            var isoOnB = where.FirstOrDefault(w => w.Host == b && w.App == "iso");
            if (isoOnB is not null)
            {
                // Its own cluster does cross (that cluster's tunnel is made by its own sync: give it its seconds).
                got = "";
                sw.Restart();
                while (sw.Elapsed < TimeSpan.FromSeconds(30) && !got.Contains($"page-of-iso-{isoOnB.Index}")) got = await Get(isoOnA, isoOnB.Address);
                Assert.Contains($"page-of-iso-{isoOnB.Index}", got);
                Assert.DoesNotContain("page-of", await Get(onA, isoOnB.Address));
            }
            // Published ports are served by the nodes that run a replica of the app, and only by them (no routing
            // mesh: docs/architecture.md, "Published ports across nodes").
            foreach (var h in mesh.Hosts)
            {
                var runs = where.Any(w => w.Host == h && w.App == "web");
                var r = await MeshHosts.Run("ip", ["netns", "exec", h.Netns, "curl", "-s", "--max-time", "5", $"http://{h.Address}:18080/"], null, TimeSpan.FromSeconds(20));
                if (runs) Assert.Contains("page-of-web-", r.Out);
                else Assert.DoesNotContain("page-of", r.Out);
                output.WriteLine($"{h.Name}: {(runs ? "runs" : "does not run")} web; :18080 → {(r.Code == 0 ? r.Out.Trim() : $"curl exit {r.Code}")}");
            }

            // The overlay's devices, routes and guard table on A.
            var links = await Ns(a, "ip", "-d", "-o", "link");
            Assert.Equal(2, Regex.Matches(links.Out, @"vxlan id \d+").Count); // one per cluster present
            var table = await Ns(a, "nft", "list", "ruleset");
            Assert.Contains("udp dport 4789 ip saddr != @nodes drop", table.Out);
            Assert.Contains(b.Address, table.Out);

            // B is lost (kill -9): once its lease runs out, A drops its routes to B (C's stay); B comes back: reached again.
            var bSubnets = BridgeAddress().Matches((await Ns(b, "ip", "-4", "-o", "addr")).Out).Select(m => m.Groups[1].Value + ".0/").ToList();
            Assert.NotEmpty(bSubnets);
            bool RouteToB(string routes) => routes.Split('\n').Any(l => l.Contains("proto 116") && bSubnets.Any(n => l.StartsWith(n, StringComparison.Ordinal)));
            Assert.True(RouteToB((await Ns(a, "ip", "route")).Out), "A has no overlay route to B's subnets");
            b.KillDaemons();
            sw.Restart();
            while (sw.Elapsed < TimeSpan.FromSeconds(40) && RouteToB((await Ns(a, "ip", "route")).Out)) await Task.Delay(500);
            var routes = (await Ns(a, "ip", "route")).Out;
            Assert.False(RouteToB(routes), $"A still routes to lost B's subnets {string.Join(", ", bSubnets)}:\n{routes}");
            output.WriteLine($"kill -9 of {b.Name} → A's overlay routes to it gone: {sw.ElapsedMilliseconds} ms");
            Ok(await Tio(b, ["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "-ip", a.Address]), b, "tio ++ on B after kill -9");
            // B's replicas were placed on A meanwhile (placement never moves them back): an app pinned to B is reached
            // from A's replica over the tunnel made again.
            var back = Path.Combine(a.Dir, "back.yml");
            await File.WriteAllTextAsync(back, $"name: back\ncontainer: busybox:latest\ncommand: {Http}\nnode: {b.Name}\n");
            Ok(await Tio(a, ["+", back]), a, "tio + back (node: B)");
            Placed? backOnB = null;
            sw.Restart();
            while (sw.Elapsed < TimeSpan.FromSeconds(90) && backOnB is null)
            {
                backOnB = (await PlacedAsync(mesh, a)).FirstOrDefault(w => w.App == "back" && w.Host == b);
                if (backOnB is null) await Task.Delay(500);
            }
            Assert.True(backOnB is not null, $"back never ran on {b.Name}\n{b.Log("tinyonode")}");
            got = "";
            sw.Restart();
            while (sw.Elapsed < TimeSpan.FromSeconds(60) && !got.Contains("page-of-back-")) got = await Get(onA, backOnB.Address);
            Assert.Contains("page-of-back-", got);
            // After the restart B has one device per cluster present (made again, none doubled).
            var ids = Regex.Matches((await Ns(b, "ip", "-d", "-o", "link")).Out, @"vxlan id (\d+)").Select(m => m.Groups[1].Value).ToList();
            Assert.NotEmpty(ids);
            Assert.Equal(ids.Count, ids.Distinct().Count());

            // tio down, one host after the other, each checked right after its own: no VXLAN device, overlay route or
            // nft table of ours left. Each node that goes leaves the KV group, so the last one still has a majority
            // and shuts down cleanly too — given the time to: by then it runs every replica (13), stopped one by one.
            foreach (var h in mesh.Hosts.Reverse())
            {
                Ok(await Tio(h, ["down", "--grace", h == a ? "30" : "5"]), h, "tio down");
                Assert.DoesNotContain("vxlan", (await Ns(h, "ip", "-d", "-o", "link")).Out);
                Assert.DoesNotContain("proto 116", (await Ns(h, "ip", "route")).Out);
                var tables = (await Ns(h, "nft", "list", "tables")).Out;
                Assert.False(tables.Contains("tinyo"), $"{h.Name}{(h == a ? " (the last)" : "")} after tio down: {tables}\n--- tinyonode\n{h.Log("tinyonode")}");
            }
        }
        finally
        {
            foreach (var h in mesh.Hosts)
            {
                await Tio(h, ["down", "--grace", "2"]);
                ClusterNetworkTests.RemoveContainers(Path.Combine(h.Root, "rt")); // also those of a node that died mid-test
            }
        }
    }

    /// <summary>A running replica, its node and address.</summary>
    private sealed record Placed(string App, int Index, MeshHost Host, string Address)
    {
        public override string ToString() => $"{App}-{Index} on {Host.Name} at {Address}";
    }

    /// <summary>Every running replica with the host whose cluster bridge's subnet holds its address.</summary>
    private static async Task<List<Placed>> PlacedAsync(MeshHosts mesh, MeshHost from)
    {
        var subnets = new List<(MeshHost Host, uint Base, int Prefix)>();
        foreach (var h in mesh.Hosts)
            foreach (Match m in BridgeAddress().Matches((await Ns(h, "ip", "-4", "-o", "addr")).Out))
                subnets.Add((h, ToUInt(m.Groups[1].Value + ".0"), int.Parse(m.Groups[2].Value)));
        var ls = await Tio(from, ["ls", "-o", "json"]);
        var result = new List<Placed>();
        if (ls.Code != 0) return result;
        var apps = JsonSerializer.Deserialize(ls.Out, ApiJson.Default.ListAppInfo) ?? [];
        foreach (var app in apps)
            foreach (var c in app.Containers ?? [])
            {
                if (c.State != "running" || c.Address is null || !c.Name.StartsWith(app.Name + "-", StringComparison.Ordinal)) continue;
                var u = ToUInt(c.Address);
                var s = subnets.FirstOrDefault(s => (u & (uint.MaxValue << (32 - s.Prefix))) == s.Base);
                if (s.Host is not null) result.Add(new Placed(app.Name, int.Parse(c.Name[(app.Name.Length + 1)..]), s.Host, c.Address));
            }
        return result;
    }

    private static uint ToUInt(string ip)
    {
        var b = IPAddress.Parse(ip).GetAddressBytes();
        return (uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
    }

    /// <summary>Runs a shell command inside a replica, through the node it runs on.</summary>
    private static async Task<string> Exec(Placed p, string command)
    {
        var r = await Tio(p.Host, ["exec", p.App, "-r", p.Index.ToString(), "--", "sh", "-c", command]);
        return r.Out + r.Err;
    }

    /// <summary>An HTTP GET with busybox nc from inside a replica.</summary>
    private static Task<string> Get(Placed from, string target)
        => Exec(from, $"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {target} 7000 2>&1");

    private static Task<(int Code, string Out, string Err)> Tio(MeshHost h, string[] args) => h.Tio(args);

    private static Task<(int Code, string Out, string Err)> Ns(MeshHost h, params string[] args)
        => MeshHosts.Run("ip", ["netns", "exec", h.Netns, .. args], null, TimeSpan.FromSeconds(20));
}
