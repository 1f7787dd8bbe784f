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
/// <c>stdin: {from: producer}</c> through the real binaries (issue 15): the node owns a pipe from the producer's
/// stdout to the consumer's stdin; the consumer counts the producer's lines; the consumer killed and restarted keeps
/// the pipe, and the producer killed and restarted writes into it again (its lines reach the new consumer).
/// </summary>
[Collection("e2e")]
public sealed class PipeTests(MirrorRegistry registry, ITestOutputHelper output) : IClassFixture<MirrorRegistry>
{
    [SkippableFact]
    public async Task A_producer_feeds_a_consumer_through_a_pipe_that_survives_restarts_of_either()
    {
        Skip.If(Environment.UserName != "root", "needs root (namespaces, mounts, cgroups)");
        var dir = Directory.CreateTempSubdirectory("tio-pipe-").FullName;
        string nodeNs = Path.Combine(dir, "node-ns");
        NetworkNamespace? node = null;
        TioNode? n = null;
        try
        {
            node = NetworkNamespace.Create(nodeNs);
            node.Netlink.SetUp(node.Netlink.LinkIndex("lo"), true);
            n = new TioNode { Netns = nodeNs };
            var rtRoot = new RuntimeRoot(Path.Combine(n.Root, "rt"));
            await new ImageSource(new ImageStore(rtRoot), [registry.Mirror], true, _ => { }).GetAsync("busybox:latest", CancellationToken.None);
            Ok(await n.Tio(["++", "-net", "front", "-u", "admin", "-p", TioNode.Password]), "tio ++");
            // The producer prints 1000 lines, then waits; the consumer prints its count at every 1000th line.
            var file = Path.Combine(dir, "pipe.yml");
            await File.WriteAllTextAsync(file,
                "name: producer\ncontainer: busybox:latest\n" +
                "command: [\"sh\", \"-c\", \"i=0; while [ $i -lt 1000 ]; do echo line $i; i=$((i+1)); done; exec sleep 3600\"]\n---\n" +
                "name: consumer\ncontainer: busybox:latest\nstdin: {from: producer}\n" +
                "command: [\"awk\", \"{n++} n % 1000 == 0 {print \\\"count\\\", n; fflush()}\"]\n");
            Ok(await n.Tio(["+", file]), "apply the pipe");
            await WaitRunning(n, ["producer", "consumer"]);
            await WaitCounts(n, 1, "the consumer counted the producer's 1000 lines");

            // The consumer killed: restarted on the same pipe (the producer, blocked or not, got no SIGPIPE).
            int consumerPid = await PidOf(n, "consumer");
            Process.GetProcessById(consumerPid).Kill();
            var sw = Stopwatch.StartNew();
            while (await PidOf(n, "consumer") is var p && (p == 0 || p == consumerPid))
            {
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), "the consumer did not restart");
                await Task.Delay(200);
            }
            var producerPid = await PidOf(n, "producer");
            Assert.True(Process.GetProcessById(producerPid) is { HasExited: false }, "the producer died with the consumer");

            // The producer killed: restarted, its new 1000 lines reach the restarted consumer through the same pipe.
            Process.GetProcessById(producerPid).Kill();
            await WaitCounts(n, 2, "the restarted producer's lines reached the restarted consumer");
            Ok(await n.Tio(["down", "--grace", "5"]), "tio down");
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

    /// <summary>Waits until the consumer's log (across its restarts) has <paramref name="want"/> "count 1000" lines.</summary>
    private async Task WaitCounts(TioNode n, int want, string what)
    {
        var sw = Stopwatch.StartNew();
        string logs = "";
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            logs = (await n.Tio(["logs", "consumer"])).Out;
            if (logs.Split('\n').Count(l => l.Trim() == "count 1000") >= want)
            {
                output.WriteLine(logs);
                Assert.DoesNotContain("count 2000", logs); // no line counted twice by one consumer
                return;
            }
            await Task.Delay(300);
        }
        Assert.Fail($"{what}: consumer's log:\n{logs}\n{n.Log("tinyonode")}");
    }

    private static async Task<int> PidOf(TioNode n, string app)
    {
        var r = await n.Tio(["ls", "-o", "json"]);
        var apps = JsonSerializer.Deserialize(r.Out, ApiJson.Default.ListAppInfo) ?? [];
        return apps.FirstOrDefault(a => a.Name == app)?.Containers?.FirstOrDefault() is { State: "running" } c ? c.Pid : 0;
    }

    private static void Ok((int Code, string Out, string Err) r, string what) => Assert.True(r.Code == 0, $"{what}: exit {r.Code}: {r.Out}{r.Err}");

    private static async Task WaitRunning(TioNode n, string[] names)
    {
        var sw = Stopwatch.StartNew();
        List<AppInfo> apps = [];
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            var r = await n.Tio(["ls", "-o", "json"]);
            if (r.Code == 0)
            {
                apps = JsonSerializer.Deserialize(r.Out, ApiJson.Default.ListAppInfo) ?? [];
                if (names.All(x => apps.Any(a => a.Name == x && a.State == "running"))) return;
            }
            await Task.Delay(200);
        }
        Assert.Fail($"apps not running: {string.Join("; ", apps.Select(a => $"{a.Name} {a.State} {a.Error}"))}\n{n.Log("tinyonode")}");
    }

}
