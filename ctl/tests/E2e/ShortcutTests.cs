using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Tinyo.Api;
using Tinyo.Rt;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Images;
using Tinyo.Rt.Network;
using Tinyo.Rt.Network.Direct;
using Xunit.Abstractions;

using static Tinyo.Ctl.Tests.E2e.NodeSteps;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// The eBPF TCP shortcut through the real binaries (issue 15): the node gives each cluster a cgroup v2 directory its
/// containers are born in, and attaches the cluster's sockmap shortcut there once two of its replicas run on the
/// node. Two apps of one cluster then talk TCP by name socket to socket — the shortcut's counters grow by the bytes
/// and the replicas' veths stay flat — while <c>tio ls</c> says <c>shortcut</c>; an app of another cluster is on the
/// bridge and its connection is never redirected; removal and <c>tio down</c> leave no program, map or directory.
/// </summary>
[Collection("e2e")]
public sealed partial class ShortcutTests(MirrorRegistry registry, ITestOutputHelper output) : IClassFixture<MirrorRegistry>
{
    [SkippableFact]
    public async Task Two_apps_of_a_cluster_talk_through_the_shortcut_and_another_cluster_never_does()
    {
        Skip.If(Environment.UserName != "root", "needs root (namespaces, cgroups, bpf)");
        Skip.If(!File.Exists("/usr/bin/gcc") || !File.Exists("/usr/lib/x86_64-linux-gnu/libc.a"), "needs gcc and a static libc (libc6-dev) to build the traffic tool");
        Skip.If(UnifiedMount() is null, "no cgroup2 tree beside v1 controllers on this host (the node offers the shortcut on hybrid hosts)");
        var dir = Directory.CreateTempSubdirectory("tio-shortcut-").FullName;
        string nodeNs = Path.Combine(dir, "node-ns"), tool = Path.Combine(dir, "tool");
        NetworkNamespace? node = null;
        TioNode? n = null;
        try
        {
            Directory.CreateDirectory(tool);
            Build(Path.Combine(tool, "dnet"));
            node = NetworkNamespace.Create(nodeNs);
            node.Netlink.SetUp(node.Netlink.LinkIndex("lo"), true);
            n = new TioNode { Netns = nodeNs };
            var rtRoot = new RuntimeRoot(Path.Combine(n.Root, "rt"));
            await new ImageSource(new ImageStore(rtRoot), [registry.Mirror], true, _ => { }).GetAsync("busybox:latest", CancellationToken.None);
            Ok(await n.Tio(["++", "-net", "front", "-u", "admin", "-p", TioNode.Password]), "tio ++");
            Ok(await n.Tio(["net", "+", "back"]), "net + back");

            string mount = $"mounts: [{{source: {tool}, target: /opt/tool, readonly: true}}]\n";
            Ok(await Apply(n, dir, "srv", $"name: srv\ncontainer: busybox:latest\ncommand: [\"/opt/tool/dnet\", \"serve\", \"tcp\", \"7000\"]\n{mount}"), "apply srv");
            Ok(await Apply(n, dir, "cli", $"name: cli\ncontainer: busybox:latest\ncommand: [\"sleep\", \"3600\"]\n{mount}"), "apply cli");
            Ok(await Apply(n, dir, "lone", $"name: lone\ncontainer: busybox:latest\ncommand: [\"sleep\", \"3600\"]\nnet: back\n{mount}"), "apply lone");
            var apps = await WaitRunning(n, ["srv", "cli", "lone"]);

            // The path each replica's cluster traffic takes, as tio ls says it.
            string PathOf(string app) => apps.Single(a => a.Name == app).Containers!.Single().Path ?? "(none)";
            Assert.Equal("shortcut", PathOf("srv"));
            Assert.Equal("shortcut", PathOf("cli"));
            Assert.StartsWith("bridge (", PathOf("lone"));
            var table = await n.Tio(["ls"]);
            Assert.Contains("srv-1: cluster path shortcut", table.Out);
            Assert.Contains("lone-1: cluster path bridge (one replica of the cluster on this node)", table.Out);

            // Every replica is born in its cluster's directory; the shortcut is attached to front's only.
            var log = n.Log("tinyonode");
            var m = AttachedRegex().Match(log);
            Assert.True(m.Success, $"no shortcut attached in the node's log:\n{log}");
            string frontDir = m.Groups["dir"].Value;
            uint sockOps = uint.Parse(m.Groups["ops"].Value), skMsg = uint.Parse(m.Groups["msg"].Value);
            uint hash = uint.Parse(m.Groups["hash"].Value), counters = uint.Parse(m.Groups["counters"].Value);
            Assert.Single(AttachedRegex().Matches(log)); // back (one replica) has none
            Assert.EndsWith("/front", frontDir);
            int srvPid = apps.Single(a => a.Name == "srv").Containers!.Single().Pid;
            Assert.Contains(srvPid.ToString(), File.ReadAllText(Path.Combine(frontDir, "cgroup.procs")).Split('\n'));
            Assert.Equal([sockOps], BpfObjects.SockOpsAttached(frontDir));
            var backDir = Path.Combine(Path.GetDirectoryName(frontDir)!, "back");
            Assert.Empty(BpfObjects.SockOpsAttached(backDir));

            // 1 MiB echoed between two apps of front, the server found by name: the bytes move socket to socket.
            var before = SockmapShortcut.Peek(hash, counters) ?? throw new InvalidOperationException("the shortcut's maps are gone");
            long vethBefore = VethBytes(nodeNs);
            var echo = await Exec(n, "cli", "a=$(nslookup srv 2>/dev/null | awk '/^Address/ {print $NF}' | tail -1); echo addr=$a; /opt/tool/dnet check tcp $a:7000 1048576");
            output.WriteLine(echo);
            Assert.Contains("ok 1048576", echo);
            long vethDelta = VethBytes(nodeNs) - vethBefore;
            var after = SockmapShortcut.Peek(hash, counters)!.Value;
            output.WriteLine($"front's shortcut: sockets {before.Counters.Sockets} → {after.Counters.Sockets}, redirected bytes {before.Counters.RedirectedBytes} → {after.Counters.RedirectedBytes}; veth bytes +{vethDelta}");
            Assert.True(after.Counters.Sockets - before.Counters.Sockets >= 2, "both ends of the connection were not put in the map");
            Assert.True(after.Counters.RedirectedBytes - before.Counters.RedirectedBytes >= 2 * 1048576, "the echo's bytes were not redirected socket to socket");
            Assert.True(vethDelta < 256 * 1024, $"{vethDelta} bytes crossed the veths: the echo took the bridge");

            // Another cluster: on the bridge, its connection attempt to front's server is never redirected (and the
            // isolation rules refuse it); front's counters do not move.
            var srvAddr = apps.Single(a => a.Name == "srv").Containers!.Single().Address!;
            var cross = await Exec(n, "lone", $"timeout 5 /opt/tool/dnet check tcp {srvAddr}:7000 4096; echo rc=$?");
            output.WriteLine(cross);
            Assert.DoesNotContain("ok 4096", cross);
            Assert.Equal(after.Counters, SockmapShortcut.Peek(hash, counters)!.Value.Counters);

            // Removing front's apps detaches and frees the shortcut and removes front's directory.
            Ok(await n.Tio(["-", "cli"]), "tio - cli");
            Ok(await n.Tio(["-", "srv"]), "tio - srv");
            await ReconcileNode.WaitAsync(() => !Directory.Exists(frontDir), "front's cgroup directory removed");
            // The kernel frees them once unreferenced (after an RCU grace period): waited for, not assumed.
            await ReconcileNode.WaitAsync(() => !BpfObjects.Exists(sockOps, map: false) && !BpfObjects.Exists(skMsg, map: false), "front's programs freed");
            await ReconcileNode.WaitAsync(() => !BpfObjects.Exists(hash, map: true) && !BpfObjects.Exists(counters, map: true), "front's maps freed");
            Assert.True(Directory.Exists(backDir), "back's directory went with front's");
            Ok(await n.Tio(["down", "--grace", "5"]), "tio down");
            Assert.False(Directory.Exists(backDir), "tio down left back's cgroup directory");
            Assert.False(Directory.Exists(Path.GetDirectoryName(frontDir)), "tio down left the node's cgroup directory");
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

    [GeneratedRegex(@"eBPF socket shortcut attached to (?<dir>\S+) \(sock_ops (?<ops>\d+), sk_msg (?<msg>\d+), sockhash (?<hash>\d+), counters (?<counters>\d+)\)")]
    private static partial Regex AttachedRegex();

    /// <summary>The cgroup2 mount of a hybrid host (v1 controllers beside it), or null.</summary>
    private static string? UnifiedMount()
    {
        if (File.Exists("/sys/fs/cgroup/cgroup.controllers")) return null; // unified only
        foreach (var line in File.ReadLines("/proc/self/mounts"))
            if (line.Split(' ') is [_, var mnt, "cgroup2", ..]) return mnt;
        return null;
    }

    /// <summary>Bytes received and sent by the replicas' host-side veths (tv…) in the node's namespace.</summary>
    private static long VethBytes(string netns)
    {
        var psi = new ProcessStartInfo("nsenter", [$"--net={netns}", "cat", "/proc/net/dev"]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        long sum = 0;
        foreach (var line in text.Split('\n'))
        {
            var parts = line.Split(':', 2);
            if (parts.Length < 2 || !parts[0].Trim().StartsWith("tv", StringComparison.Ordinal)) continue;
            var f = parts[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            sum += long.Parse(f[0]) + long.Parse(f[8]);
        }
        return sum;
    }

    /// <summary>The traffic tool, static: it runs in a busybox container without a libc.</summary>
    private static void Build(string output)
    {
        var source = Path.Combine(Repo.Root, "bench", "direct", "dnet.c");
        var psi = new ProcessStartInfo("gcc", ["-static", "-O2", "-pthread", "-o", output, source]) { RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"building dnet failed: {err}");
    }

    private static void Ok((int Code, string Out, string Err) r, string what) => Assert.True(r.Code == 0, $"{what}: exit {r.Code}: {r.Out}{r.Err}");

}
