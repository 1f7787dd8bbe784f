using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Rt;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Images;
using Tinyo.Rt.Network;
using Xunit.Abstractions;

using static Tinyo.Ctl.Tests.E2e.NodeSteps;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// A cluster is a network, through the real binaries: tio, tinyokv and tinyonode run inside a network namespace the
/// test makes (nothing touches the host's links, rules or forwarding), with busybox pulled into the node's store
/// beforehand (the mirror listens on the host's loopback). Apps of one cluster reach each other by name; an app of
/// another cluster reaches neither by name nor by address, nor they it; egress to a server in a second test namespace
/// works and is cut for a --no-egress cluster, and `tio net egress` switches it both ways on a running cluster; a
/// published port serves over the replica's cluster address (an app listening only there is reachable) and, for
/// `network: none`, over its loopback; the node's API, KV client and KV peer ports are in the isolation table;
/// kill -9 of tinyonode and tio ++ keep the addresses and leak nothing; tio down leaves no link, rule, namespace or
/// forwarding change.
/// </summary>
[Collection("e2e")]
public sealed class ClusterNetworkTests(MirrorRegistry registry, ITestOutputHelper output) : IClassFixture<MirrorRegistry>
{
    private const string Http = """["sh", "-c", "mkdir -p /www && echo page-of-$(hostname) > /www/index.html && exec httpd -f -p 7000 -h /www"]""";

    /// <summary>An httpd bound to the replica's cluster address only (what its hostname maps to in /etc/hosts).</summary>
    private const string HttpClusterOnly = """["sh", "-c", "mkdir -p /www && echo only-on-$(hostname) > /www/index.html && exec httpd -f -p $(awk -v h=$(hostname) '$2==h{print $1; exit}' /etc/hosts):7000 -h /www"]""";

    private static string App(string name, string extra = "") => $"name: {name}\ncontainer: busybox:latest\ncommand: {Http}\n{extra}";

    [SkippableFact]
    public async Task Apps_of_a_cluster_talk_by_name_other_clusters_are_cut_off_egress_switches_and_nothing_leaks()
    {
        Skip.If(Environment.UserName != "root", "needs root (network namespaces, nftables)");
        Skip.If(!File.Exists("/usr/sbin/nft") && !File.Exists("/usr/bin/nft"), "nft is not installed (make deps)");
        var dir = Directory.CreateTempSubdirectory("tio-clusternet-").FullName;
        string nodeNs = Path.Combine(dir, "node-ns"), outNs = Path.Combine(dir, "outside-ns");
        NetworkNamespace? node = null, outside = null;
        Process? outsideServer = null;
        TioNode? n = null;
        try
        {
            node = NetworkNamespace.Create(nodeNs);
            node.Netlink.SetUp(node.Netlink.LinkIndex("lo"), true);
            node.WriteSysctl("net.ipv4.ip_forward", "0"); // a new namespace copies the host's: start from off, as a fresh host
            outside = NetworkNamespace.Create(outNs);
            // The "outside world": a namespace behind a veth of the node's namespace, with a server on 192.168.231.2.
            node.Netlink.CreateVethPair("tout0", "eth0", outside.Fd);
            int up = node.Netlink.LinkIndex("tout0");
            node.Netlink.AddAddress(up, IPAddress.Parse("192.168.231.1"), 30);
            node.Netlink.SetUp(up, true);
            int eth0 = outside.Netlink.LinkIndex("eth0");
            outside.Netlink.SetUp(outside.Netlink.LinkIndex("lo"), true);
            outside.Netlink.AddAddress(eth0, IPAddress.Parse("192.168.231.2"), 30);
            outside.Netlink.SetUp(eth0, true);
            Directory.CreateDirectory(Path.Combine(dir, "www"));
            File.WriteAllText(Path.Combine(dir, "www", "index.html"), "the-outside\n");
            outsideServer = Ns(outNs, "busybox", "httpd", "-f", "-p", "9000", "-h", Path.Combine(dir, "www"));

            n = new TioNode { Netns = nodeNs };
            // The node cannot reach the mirror on the host's loopback from its namespace: busybox goes into its store first.
            var rtRoot = new RuntimeRoot(Path.Combine(n.Root, "rt"));
            await new ImageSource(new ImageStore(rtRoot), [registry.Mirror], true, _ => { }).GetAsync("busybox:latest", CancellationToken.None);
            Ok(await n.Tio(["++", "-net", "front", "-u", "admin", "-p", TioNode.Password]), "tio ++");
            Ok(await n.Tio(["net", "+", "back"]), "net + back");
            Ok(await n.Tio(["net", "+", "closed", "--no-egress"]), "net + closed --no-egress");

            // An app naming a cluster that does not exist: refused by the node, at the line and column of net:.
            var bad = await Apply(n, dir, "nope", App("nope", "net: nothere\n"));
            Assert.NotEqual(0, bad.Code);
            Assert.Contains("nope.yml:4:6: net: no net 'nothere'", bad.Out + bad.Err);

            Ok(await Apply(n, dir, "db", App("db", "replicas: 2\n")), "apply db");
            Ok(await Apply(n, dir, "web", App("web", "port: \"18080:7000\"\n")), "apply web");
            Ok(await Apply(n, dir, "other", App("other", "net: back\n")), "apply other");
            Ok(await Apply(n, dir, "sealed", App("sealed", "net: closed\n")), "apply sealed");
            Ok(await Apply(n, dir, "only", $"name: only\ncontainer: busybox:latest\ncommand: {HttpClusterOnly}\nport: \"18081:7000\"\n"), "apply only");
            Ok(await Apply(n, dir, "plain", App("plain", "network: none\nport: \"18082:7000\"\n")), "apply plain");
            var apps = await WaitRunning(n, ["db", "web", "other", "sealed", "only"]);
            await WaitRunning(n, ["plain"], addresses: false);
            var addr = apps.SelectMany(a => a.Containers!).ToDictionary(c => c.Name, c => c.Address!);
            output.WriteLine(string.Join(", ", addr.Select(kv => $"{kv.Key}={kv.Value}")));
            Assert.Equal(6, addr.Values.Distinct().Count());
            Assert.Equal("1", Ns1(nodeNs, "cat", "/proc/sys/net/ipv4/ip_forward").Trim()); // egress needs forwarding
            var ls = await n.Tio(["ls"]);
            Assert.Contains(addr["web-1"], ls.Out);

            // One cluster: by app name (round robin over both replicas), by NAME-N, over TCP.
            var seen = new HashSet<string>();
            for (int i = 0; i < 6 && seen.Count < 2; i++)
            {
                var r = await Get(n, "web", "db", 7000);
                Assert.True(r.Contains("page-of-db-"), $"web → db: {r}");
                seen.Add(r.Trim());
            }
            Assert.Equal(2, seen.Count);
            Assert.Contains("page-of-db-2", await Get(n, "web", "db-2", 7000));
            Assert.Contains(addr["db-1"], (await n.Tio(["exec", "web", "--", "nslookup", "db-1"])).Out);

            // Another cluster: no name, no route, either way.
            Assert.DoesNotContain("page-of", await Get(n, "other", "db", 7000));
            Assert.DoesNotContain("page-of", await Get(n, "other", addr["db-1"], 7000));
            Assert.DoesNotContain("page-of", await Get(n, "web", addr["other-1"], 7000));
            Assert.DoesNotContain("page-of", await Get(n, "web", "other", 7000));

            // Egress: on by default (masqueraded to the outside namespace), off for the --no-egress cluster.
            Assert.Contains("the-outside", await Get(n, "web", "192.168.231.2", 9000));
            Assert.DoesNotContain("the-outside", await Get(n, "sealed", "192.168.231.2", 9000));

            // Egress switched on a running cluster, both ways, applied by the node from the net's record.
            var noSuch = await n.Tio(["net", "egress", "nothere", "on"]);
            Assert.NotEqual(0, noSuch.Code);
            Assert.Contains("net nothere does not exist", noSuch.Out + noSuch.Err);
            Ok(await n.Tio(["net", "egress", "closed", "on"]), "net egress closed on");
            Assert.Equal(["closed", "on"], (await n.Tio(["net", "ls"])).Out.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Single(c => c.Length > 1 && c[0] == "closed")[..2]);
            await Until(async () => (await Get(n, "sealed", "192.168.231.2", 9000)).Contains("the-outside"), "egress of net closed switched on");
            Ok(await n.Tio(["net", "egress", "closed", "off"]), "net egress closed off");
            await Until(async () => !(await Get(n, "sealed", "192.168.231.2", 9000)).Contains("the-outside"), "egress of net closed switched off");
            Assert.Contains("the-outside", await Get(n, "web", "192.168.231.2", 9000)); // the other clusters keep theirs

            // The node's own ports, the KV peer port among them, are closed to every cluster bridge.
            var guard = Ns1(nodeNs, "nft", "list", "ruleset").Split('\n').Single(l => l.Contains("node API and KV", StringComparison.Ordinal));
            Assert.Contains(n.KvPort.ToString(System.Globalization.CultureInfo.InvariantCulture), guard);
            Assert.Contains(n.KvPeerPort.ToString(System.Globalization.CultureInfo.InvariantCulture), guard);

            // The published port, from the node's namespace.
            Assert.Contains("page-of-web-1", Ns1(nodeNs, "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 127.0.0.1 18080"));
            // ... over the cluster address: this app listens on nothing else (its loopback refuses).
            Assert.Contains("only-on-only-1", Ns1(nodeNs, "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 127.0.0.1 18081"));
            Assert.DoesNotContain("only-on", await Get(n, "only", "127.0.0.1", 7000));
            // ... and for network: none, through its loopback as before.
            Assert.Contains("page-of-plain-1", Ns1(nodeNs, "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 127.0.0.1 18082"));

            // The default cluster cannot go while apps use it.
            var rm = await n.Tio(["net", "-", "front"]);
            Assert.NotEqual(0, rm.Code);
            Assert.Contains("used by", rm.Out + rm.Err);

            // kill -9 of the node, then tio ++: same addresses, still talking, nothing extra left.
            var pid = n.Pid("tinyonode")!.Value;
            Process.GetProcessById(pid).Kill();
            await Task.Delay(300);
            Ok(await n.Tio(["++", "-net", "front", "-u", "admin", "-p", TioNode.Password]), "tio ++ after kill -9");
            apps = await WaitRunning(n, ["db", "web", "other", "sealed", "only"]);
            Assert.Equal(addr, apps.SelectMany(a => a.Containers!).ToDictionary(c => c.Name, c => c.Address!));
            Assert.Contains("page-of-db-", await Get(n, "web", "db", 7000));
            Assert.DoesNotContain("page-of", await Get(n, "other", addr["db-1"], 7000));
            Assert.Equal(6, Links(nodeNs).Count(l => l.StartsWith("tv", StringComparison.Ordinal)));
            // The killed node's pooled namespaces went with its descriptors (the kernel frees them; none is mounted).
            var livePool = ReplicaNetworkPool.PoolPrefix + n.Pid("tinyonode")!.Value.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
            await Until(() => Task.FromResult(!Links(nodeNs).Any(l => l.StartsWith(ReplicaNetworkPool.PoolPrefix, StringComparison.Ordinal) && !l.StartsWith(livePool, StringComparison.Ordinal))),
                "no pooled veth of the killed node left");
            Assert.Equal(3, Links(nodeNs).Count(l => l.StartsWith("tb", StringComparison.Ordinal)));
            Assert.Equal(6, Directory.GetFiles(Path.Combine(n.Root, "net", "ns")).Length);
            Assert.Contains("(pooled)", n.Log("tinyonode")); // the warm path: namespaces made ahead per cluster bridge

            // Removing an app gives its links and namespace back.
            Ok(await n.Tio(["-", "other"]), "tio - other");
            await ReconcileNode.WaitAsync(() => Links(nodeNs).Count(l => l.StartsWith("tb", StringComparison.Ordinal)) == 2, "the back cluster's bridge removed");
            Assert.Equal(5, Links(nodeNs).Count(l => l.StartsWith("tv", StringComparison.Ordinal)));
            Ok(await n.Tio(["net", "-", "back"]), "net - back (now unused)");

            // tio down: no link, rule, namespace; forwarding as it was.
            var down = await n.Tio(["down", "--grace", "5"]);
            Ok(down, "tio down");
            output.WriteLine(down.Out); // whether the node stopped in its grace or was killed and cleaned after
            var left = Links(nodeNs).Order().ToList();
            Assert.True(left.SequenceEqual(["lo", "tout0"]), $"left after tio down: {string.Join(' ', left)}\n{down.Out}\n{n.Log("tinyonode")}");
            Assert.DoesNotContain("table", Ns1(nodeNs, "nft", "list", "tables"));
            Assert.Empty(Directory.GetFiles(Path.Combine(n.Root, "net", "ns")));
            Assert.Equal("0", Ns1(nodeNs, "cat", "/proc/sys/net/ipv4/ip_forward").Trim());
        }
        finally
        {
            if (n is not null)
            {
                await n.Tio(["down", "--grace", "5"]);
                RemoveContainers(Path.Combine(n.Root, "rt"));
                await n.DisposeAsync();
            }
            if (outsideServer is not null)
            {
                try { outsideServer.Kill(); outsideServer.WaitForExit(5000); } catch (InvalidOperationException) { }
                outsideServer.Dispose();
            }
            outside?.Dispose();
            node?.Dispose();
            NetworkNamespace.Remove(outNs);
            NetworkNamespace.Remove(nodeNs); // the namespace, its links and rules go with its last reference
            Directory.Delete(dir, true);
        }
    }

    /// <summary>
    /// `tio down` whose grace is shorter than the node's own stop (httpd as pid 1 ignores SIGTERM, so the node waits
    /// its 2 s stop grace per container before its network clean-up): the node is killed mid-way, and tio down then
    /// removes what it left (`tinyonode clean`): no bridge, veth, pooled veth, nft table, namespace file; forwarding
    /// as it was.
    /// </summary>
    [SkippableFact]
    public async Task Tio_down_that_kills_the_node_still_leaves_no_link_rule_or_namespace()
    {
        Skip.If(Environment.UserName != "root", "needs root (network namespaces, nftables)");
        Skip.If(!File.Exists("/usr/sbin/nft") && !File.Exists("/usr/bin/nft"), "nft is not installed (make deps)");
        var dir = Directory.CreateTempSubdirectory("tio-clusternet-kill-").FullName;
        string nodeNs = Path.Combine(dir, "node-ns");
        NetworkNamespace? node = null;
        TioNode? n = null;
        try
        {
            node = NetworkNamespace.Create(nodeNs);
            node.Netlink.SetUp(node.Netlink.LinkIndex("lo"), true);
            node.WriteSysctl("net.ipv4.ip_forward", "0");
            n = new TioNode { Netns = nodeNs };
            var rtRoot = new RuntimeRoot(Path.Combine(n.Root, "rt"));
            await new ImageSource(new ImageStore(rtRoot), [registry.Mirror], true, _ => { }).GetAsync("busybox:latest", CancellationToken.None);
            Ok(await n.Tio(["++", "-net", "front", "-u", "admin", "-p", TioNode.Password]), "tio ++");
            Ok(await Apply(n, dir, "db", App("db", "replicas: 2\n")), "apply db");
            await WaitRunning(n, ["db"]);
            Assert.Contains(Links(nodeNs), l => l.StartsWith("tb", StringComparison.Ordinal));
            await Until(() => Task.FromResult(Links(nodeNs).Any(l => l.StartsWith(ReplicaNetworkPool.PoolPrefix, StringComparison.Ordinal))), "the bridge's pool filled");
            Assert.Equal("1", Ns1(nodeNs, "cat", "/proc/sys/net/ipv4/ip_forward").Trim());

            var down = await n.Tio(["down", "--grace", "0.3"]);
            Ok(down, "tio down");
            output.WriteLine(down.Out);
            Assert.Contains("killed after the grace period", down.Out);
            var left = Links(nodeNs).Order().ToList();
            Assert.True(left.SequenceEqual(["lo"]), $"left after tio down: {string.Join(' ', left)}\n{down.Out}{down.Err}\n{n.Log("tinyonode")}");
            Assert.DoesNotContain("table", Ns1(nodeNs, "nft", "list", "tables"));
            Assert.Empty(Directory.GetFiles(Path.Combine(n.Root, "net", "ns")));
            Assert.Equal("0", Ns1(nodeNs, "cat", "/proc/sys/net/ipv4/ip_forward").Trim());
        }
        finally
        {
            if (n is not null)
            {
                await n.Tio(["down", "--grace", "5"]);
                RemoveContainers(Path.Combine(n.Root, "rt"));
                await n.DisposeAsync();
            }
            node?.Dispose();
            NetworkNamespace.Remove(nodeNs);
            Directory.Delete(dir, true);
        }
    }

    private static async Task Until(Func<Task<bool>> ok, string what, int timeoutMs = 20_000)
    {
        var sw = Stopwatch.StartNew();
        while (!await ok())
        {
            if (sw.ElapsedMilliseconds > timeoutMs) Assert.Fail($"timed out waiting: {what}");
            await Task.Delay(200);
        }
    }

    private static void Ok((int Code, string Out, string Err) r, string what) => Assert.True(r.Code == 0, $"{what}: exit {r.Code}: {r.Out}{r.Err}");

    /// <summary>An HTTP GET with busybox nc from inside <paramref name="app"/>'s first replica (the image's static
    /// busybox wget crashes in getaddrinfo; nc resolves through the container's resolv.conf).</summary>
    private static async Task<string> Get(TioNode n, string app, string host, int port)
    {
        var r = await n.Tio(["exec", app, "--", "sh", "-c", $"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port} 2>&1"]);
        return r.Out + r.Err;
    }

    private static async Task<List<AppInfo>> WaitRunning(TioNode n, string[] names, bool addresses = true)
    {
        var sw = Stopwatch.StartNew();
        List<AppInfo> apps = [];
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            var r = await n.Tio(["ls", "-o", "json"]);
            if (r.Code == 0)
            {
                apps = JsonSerializer.Deserialize(r.Out, ApiJson.Default.ListAppInfo) ?? [];
                if (names.All(x => apps.Any(a => a.Name == x && a.State == "running" && a.Containers!.All(c => (c.Address is not null) == addresses))))
                    return [.. apps.Where(a => names.Contains(a.Name))];
            }
            await Task.Delay(200);
        }
        Assert.Fail($"apps not running with addresses: {string.Join("; ", apps.Select(a => $"{a.Name} {a.State} {a.Error}"))}\n{n.Log("tinyonode")}");
        return apps;
    }

    private static List<string> Links(string netns)
        => [.. Ns1(netns, "ip", "-o", "link").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(':')[1].Trim().Split('@')[0])];

    private static Process Ns(string netns, params string[] args)
    {
        var psi = new ProcessStartInfo("nsenter") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("--net=" + netns);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    private static string Ns1(string netns, params string[] args)
    {
        using var p = Ns(netns, args);
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(20_000)) p.Kill();
        return o.Result + e.Result;
    }

    internal static void RemoveContainers(string rtRoot)
    {
        var root = new RuntimeRoot(rtRoot);
        if (!Directory.Exists(root.Containers)) return;
        var ic = new ImageContainers(root, new RuntimeOptions());
        foreach (var d in Directory.GetDirectories(root.Containers))
        {
            try
            {
                ic.Remove(Path.GetFileName(d), force: true);
            }
            catch (RtException)
            {
            }
        }
    }
}
