using System.Diagnostics;
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
/// The direct network's paths through the real binaries (issue 15): tio, tinyokv and tinyonode in a network namespace
/// the test makes, busybox containers with the traffic tool (bench/direct/dnet.c, built static) bound in. An app that
/// <c>expose: unix</c> is reached by its cluster at /run/tinyo/uds/APP.sock and not by another cluster; a region
/// (<c>shm:</c>) is shared by the apps that list it, refuses bytes past its size, is charged to the memory cgroup of
/// the container that fills it, and is invisible to another cluster; a kill -9 of the node keeps both working;
/// removing the apps and <c>tio down</c> leave no directory, socket file or mount.
/// </summary>
[Collection("e2e")]
public sealed class DirectNetworkTests(MirrorRegistry registry, ITestOutputHelper output) : IClassFixture<MirrorRegistry>
{
    [SkippableFact]
    public async Task Unix_sockets_by_name_and_shared_memory_reach_only_their_cluster_and_leave_nothing()
    {
        Skip.If(Environment.UserName != "root", "needs root (namespaces, mounts, cgroups)");
        Skip.If(!File.Exists("/usr/bin/gcc") || !File.Exists("/usr/lib/x86_64-linux-gnu/libc.a"), "needs gcc and a static libc (libc6-dev) to build the traffic tool");
        var dir = Directory.CreateTempSubdirectory("tio-direct-").FullName;
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
            Ok(await Apply(n, dir, "api", $"name: api\ncontainer: busybox:latest\ncommand: [\"/opt/tool/dnet\", \"serve\", \"unix\", \"/run/tinyo/uds/api.sock\"]\nexpose: unix\n{mount}"), "apply api");
            const string Regions = "resources: {memory: 64m}\nshm: {name: frames, size: 1m}\n";
            Ok(await Apply(n, dir, "client", $"name: client\ncontainer: busybox:latest\ncommand: [\"sleep\", \"3600\"]\n{Regions}{mount}"), "apply client");
            Ok(await Apply(n, dir, "peer", $"name: peer\ncontainer: busybox:latest\ncommand: [\"sleep\", \"3600\"]\n{Regions}"), "apply peer");
            Ok(await Apply(n, dir, "other", $"name: other\ncontainer: busybox:latest\ncommand: [\"sleep\", \"3600\"]\nnet: back\n{mount}"), "apply other");
            await WaitRunning(n, ["api", "client", "peer", "other"]);

            // Unix socket by name: the cluster reaches it, another cluster has no such path.
            Assert.Equal("ok 1048576", (await Exec(n, "client", "/opt/tool/dnet check unix /run/tinyo/uds/api.sock 1048576")).Trim());
            Assert.True(File.Exists(Path.Combine(n.Root, "run", "uds", "front", "api.sock")), "the socket is not in the cluster's directory");
            var cross = await Exec(n, "other", "ls /run/tinyo/uds; /opt/tool/dnet check unix /run/tinyo/uds/api.sock 16; echo rc=$?");
            Assert.DoesNotContain("api.sock\n", cross);
            Assert.Contains("rc=1", cross);

            // Shared memory: past its size a write fails; the bytes are charged to the writer's memory cgroup; the other
            // app of the cluster that lists it sees them; another cluster has no /dev/shm/frames.
            var clientPid = (await WaitRunning(n, ["client"])).Single().Containers!.Single().Pid;
            var procCgroup = File.ReadAllText($"/proc/{clientPid}/cgroup");
            output.WriteLine(procCgroup);
            long before = Shmem(procCgroup);
            var fill = await Exec(n, "client", "head -c 3000000 /dev/zero > /dev/shm/frames; echo rc=$?; wc -c < /dev/shm/frames");
            output.WriteLine(fill);
            Assert.Contains("rc=1", fill); // busybox head reports the ENOSPC as "I/O error"
            Assert.Contains("\n1048576\n", fill); // the region's size, not a byte more
            long after = Shmem(procCgroup);
            output.WriteLine($"client's memory cgroup shmem: {before} → {after}");
            Assert.True(after - before >= 1_000_000, $"the region's pages were not charged to the writer: shmem {before} → {after}");
            await Exec(n, "client", "printf from-client > /dev/shm/frames");
            Assert.Equal("from-client", (await Exec(n, "peer", "cat /dev/shm/frames")).Trim());
            Assert.Contains("No such file", await Exec(n, "other", "cat /dev/shm/frames"));
            Assert.Contains("No such file", await Exec(n, "api", "cat /dev/shm/frames")); // same cluster, not listed

            // kill -9 of the node, then tio ++: containers re-adopted, the region keeps its bytes, the socket still answers.
            Process.GetProcessById(n.Pid("tinyonode")!.Value).Kill();
            await Task.Delay(300);
            Ok(await n.Tio(["++", "-net", "front", "-u", "admin", "-p", TioNode.Password]), "tio ++ after kill -9");
            await WaitRunning(n, ["api", "client", "peer", "other"]);
            Assert.Equal("from-client", (await Exec(n, "peer", "cat /dev/shm/frames")).Trim());
            Assert.Equal("ok 4096", (await Exec(n, "client", "/opt/tool/dnet check unix /run/tinyo/uds/api.sock 4096")).Trim());

            // Removing the cluster's apps removes its directory and region; the other cluster's stays until tio down.
            Ok(await n.Tio(["-", "api"]), "tio - api");
            await ReconcileNode.WaitAsync(() => !File.Exists(Path.Combine(n.Root, "run", "uds", "front", "api.sock")), "a removed app's socket file removed");
            Ok(await n.Tio(["-", "client"]), "tio - client");
            var containers = new RuntimeRoot(Path.Combine(n.Root, "rt")).Containers;
            await ReconcileNode.WaitAsync(() => Directory.GetDirectories(containers).Length == 2, "the containers of api and client removed");
            Assert.True(Directory.Exists(Path.Combine(n.Root, "run", "shm", "front", "frames")), "the region went while peer still lists it");
            Ok(await n.Tio(["-", "peer"]), "tio - peer");
            await ReconcileNode.WaitAsync(() => !Directory.Exists(Path.Combine(n.Root, "run", "uds", "front")), "front's socket directory removed");
            Assert.False(Directory.Exists(Path.Combine(n.Root, "run", "shm", "front")), "front's regions left behind");
            Assert.True(Directory.Exists(Path.Combine(n.Root, "run", "uds", "back")));
            Ok(await n.Tio(["down", "--grace", "5"]), "tio down");
            Assert.Empty(Directory.GetDirectories(Path.Combine(n.Root, "run", "uds")));
            Assert.DoesNotContain(Path.Combine(n.Root, "run", "shm"), File.ReadAllText("/proc/self/mountinfo"));
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

    /// <summary>The shmem bytes of the memory cgroup named in a container's /proc/self/cgroup (v1 or v2 line).</summary>
    private static long Shmem(string procCgroup)
    {
        string? rel = null, root = null;
        foreach (var line in procCgroup.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(':', 3);
            if (parts.Length < 3) continue;
            if (parts[1].Split(',').Contains("memory")) (rel, root) = (parts[2], "/sys/fs/cgroup/memory");
            else if (parts[1] == "" && rel is null && File.Exists("/sys/fs/cgroup/memory.stat")) (rel, root) = (parts[2], "/sys/fs/cgroup");
        }
        Assert.True(rel is not null, $"no memory cgroup in: {procCgroup}");
        foreach (var line in File.ReadLines(Path.Combine(root!, rel!.TrimStart('/'), "memory.stat")))
            if (line.StartsWith("shmem ", StringComparison.Ordinal)) return long.Parse(line[6..]);
        Assert.Fail("no shmem line in memory.stat");
        return 0;
    }

    private static void Ok((int Code, string Out, string Err) r, string what) => Assert.True(r.Code == 0, $"{what}: exit {r.Code}: {r.Out}{r.Err}");

}
