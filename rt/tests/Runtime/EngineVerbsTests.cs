using System.Text.Json;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// The runc verbs containerd's shim calls beyond the lifecycle — <c>ps --format json</c>, <c>pause</c>/<c>resume</c>,
/// <c>update</c>, <c>events --stats</c> — on a container that names its cgroup as engines do, and hooks run with their
/// exact argv. Driven through the CLI without Docker (DockerRuntimeTests covers them through Docker). Written for the
/// v1 hierarchies of this project's hosts.
/// </summary>
[Collection("containers")]
public sealed class EngineVerbsTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    private static readonly bool V1 = Directory.Exists("/sys/fs/cgroup/freezer") && Directory.Exists("/sys/fs/cgroup/memory");

    public void Dispose() => _h.Dispose();

    private (int Code, string Out, string Err) Cli(params string[] args) => _h.Cli(args);

    /// <summary>A running container with <c>linux.cgroupsPath</c> = /ID (a leaf under each hierarchy's root); returns
    /// its id and host pid.</summary>
    private (string Id, int Pid) StartEngineContainer(TestBundle b)
    {
        var id = ContainerHarness.NewId("tinyo-eng");
        b.Spec.Linux!.CgroupsPath = "/" + id;
        _h.Track(id);
        var pidFile = Path.Combine(_h.Root.Path, id + ".pid");
        var (code, _, e) = Cli("create", "--bundle", b.Write(), "--pid-file", pidFile, id);
        Assert.True(code == 0, e);
        (code, _, e) = Cli("start", id);
        Assert.True(code == 0, e);
        return (id, int.Parse(File.ReadAllText(pidFile)));
    }

    private static string Cg(string controller, string id, string file) => File.ReadAllText($"/sys/fs/cgroup/{controller}/{id}/{file}").Trim();

    private static void AssertCgroupsGone(string id)
    {
        foreach (var c in new[] { "memory", "cpu", "cpuacct", "pids", "devices", "freezer" })
            Assert.False(Directory.Exists($"/sys/fs/cgroup/{c}/{id}"), $"cgroup {c}/{id} left behind");
    }

    [SkippableFact]
    public void Ps_Events_Update_PauseResume_OnAnEngineContainer()
    {
        Skip.IfNot(V1, "not a cgroup v1 host (no /sys/fs/cgroup/freezer and memory hierarchies)");
        using var b = new TestBundle("sh", "-c", "sleep 100; true"); // sh stays: two processes
        var (id, pid) = StartEngineContainer(b);
        try
        {
            // `start` returns once sh runs; its sleep comes a moment later (this raced under load).
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (Cg("pids", id, "cgroup.procs").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length < 2 && sw.ElapsedMilliseconds < 10_000)
                Thread.Sleep(10);
            // ps: the container's processes by host pid, init first.
            var (code, o, e) = Cli("ps", "--format", "json", id);
            Assert.True(code == 0, e);
            using (var pids = JsonDocument.Parse(o))
            {
                Assert.Equal(pid, pids.RootElement[0].GetInt32());
                Assert.Equal(2, pids.RootElement.GetArrayLength()); // sh and its sleep
            }
            (code, o, e) = Cli("ps", id);
            Assert.True(code == 0, e);
            Assert.Contains("PID", o.Split('\n')[0]);
            Assert.Contains("sleep 100", o);

            // events --stats: one runc stats event from the container's own cgroups.
            (code, o, e) = Cli("events", "--stats", id);
            Assert.True(code == 0, e);
            using (var ev = JsonDocument.Parse(o))
            {
                Assert.Equal("stats", ev.RootElement.GetProperty("type").GetString());
                Assert.Equal(id, ev.RootElement.GetProperty("id").GetString());
                var data = ev.RootElement.GetProperty("data");
                Assert.Equal(2, data.GetProperty("pids").GetProperty("current").GetInt64());
                Assert.True(data.GetProperty("memory").GetProperty("usage").GetProperty("usage").GetInt64() > 0);
                Assert.True(data.GetProperty("cpu").GetProperty("usage").GetProperty("total").GetInt64() > 0);
            }

            // update: flags, and an OCI resources object from a file or stdin (what the shim sends).
            (code, _, e) = Cli("update", "--memory", "32m", "--pids-limit", "20", id);
            Assert.True(code == 0, e);
            Assert.Equal("33554432", Cg("memory", id, "memory.limit_in_bytes"));
            Assert.Equal("20", Cg("pids", id, "pids.max"));
            var res = Path.Combine(_h.Root.Path, "resources.json");
            File.WriteAllText(res, """{"memory":{"limit":50331648,"swap":100663296},"cpu":{"shares":512,"quota":50000,"period":100000}}""");
            (code, _, e) = Cli("update", "--resources", res, id);
            Assert.True(code == 0, e);
            // A limit the container's cgroups cannot carry is refused, naming it — never accepted and ignored.
            var blkio = Path.Combine(_h.Root.Path, "blkio.json");
            File.WriteAllText(blkio, """{"blockIO":{"weight":10}}""");
            var (bcode, _, berr) = Cli("update", "--resources", blkio, id);
            Assert.NotEqual(0, bcode);
            Assert.Contains("linux.resources.blockIO", berr);
            Assert.Equal("50331648", Cg("memory", id, "memory.limit_in_bytes"));
            if (File.Exists($"/sys/fs/cgroup/memory/{id}/memory.memsw.limit_in_bytes"))
                Assert.Equal("100663296", Cg("memory", id, "memory.memsw.limit_in_bytes"));
            Assert.Equal("512", Cg("cpu", id, "cpu.shares"));
            Assert.Equal("50000", Cg("cpu", id, "cpu.cfs_quota_us"));
            // Raising memory above the current memory+swap limit: written in the order the kernel accepts.
            (code, _, e) = Cli("update", "--memory", "200m", "--memory-swap", "400m", id);
            Assert.True(code == 0, e);
            Assert.Equal((200L << 20).ToString(), Cg("memory", id, "memory.limit_in_bytes"));

            // pause/resume: the freezer; a paused container still deletes (its tasks are thawed for SIGKILL).
            (code, _, e) = Cli("pause", id);
            Assert.True(code == 0, e);
            Assert.Equal("FROZEN", Cg("freezer", id, "freezer.state"));
            (code, _, e) = Cli("resume", id);
            Assert.True(code == 0, e);
            Assert.Equal("THAWED", Cg("freezer", id, "freezer.state"));
            (code, _, e) = Cli("resume", id);
            Assert.Equal(1, code);
            Assert.Contains("is not paused", e);
            Assert.Equal(0, Cli("pause", id).Code);
            (code, _, e) = Cli("delete", "--force", id);
            Assert.True(code == 0, e);
        }
        finally { Cli("delete", "--force", id); }
        AssertCgroupsGone(id); // rmdir succeeds only once every process, frozen ones included, is gone
        _h.AssertGone(id);
    }

    [SkippableFact]
    public void BadInput_IsAClearError()
    {
        Skip.IfNot(V1, "not a cgroup v1 host (no /sys/fs/cgroup/freezer and memory hierarchies)");
        // tinyort's own containers (no cgroupsPath) do not join the freezer: pause says so.
        using var b = new TestBundle("sleep", "100");
        var id = ContainerHarness.NewId("plain");
        _h.Track(id);
        Assert.Equal(0, Cli("run", "--detach", "--bundle", b.Write(), id).Code);
        var (code, _, e) = Cli("pause", id);
        Assert.Equal(1, code);
        Assert.Contains("no freezer cgroup", e);
        var bad = Path.Combine(_h.Root.Path, "bad.json");
        File.WriteAllText(bad, "{\"memory\": [");
        (code, _, e) = Cli("update", "--resources", bad, id);
        Assert.Equal(1, code);
        Assert.Contains("invalid resources JSON", e);
        Assert.DoesNotContain("   at ", e);
        (code, _, e) = Cli("update", "--memory", "12q", id);
        Assert.Equal(1, code);
        Assert.Single(e.Trim().Split('\n'));
        foreach (var verb in new[] { "pause", "resume", "events", "ps" })
        {
            (code, _, e) = Cli(verb, "no-such-container");
            Assert.Equal(1, code);
            Assert.Contains("no-such-container does not exist", e);
        }
        Assert.Equal(0, Cli("delete", "--force", id).Code);
        _h.AssertGone(id);
    }

    [Fact]
    public void Hooks_GetTheirExactArgv()
    {
        // Docker's network hook is /proc/DOCKERD/exe with args[0] "libnetwork-setkey": the hook must see args[0] as
        // given. busybox dispatches on argv[0] the same way: path busybox, args[0] "sh".
        using var b = new TestBundle("true");
        var out0 = Path.Combine(_h.Root.Path, "argv0");
        b.Spec.Hooks = new SpecHooks
        {
            Prestart = [new SpecHook { Path = TestBundle.Busybox, Args = ["sh", "-c", $"echo \"$0 $HOOKVAR\" > {out0}; cat > {out0}.state"], Env = ["HOOKVAR=v"] }],
            Poststop = [new SpecHook { Path = TestBundle.Busybox, Args = ["false"] }],
        };
        var id = ContainerHarness.NewId("argv");
        _h.Track(id);
        var (code, _, e) = Cli("run", "--bundle", b.Write(), id);
        Assert.True(code == 0, e);
        Assert.Equal("sh v\n", File.ReadAllText(out0));
        Assert.Contains($"\"id\":\"{id}\"", File.ReadAllText(out0 + ".state"));
        // busybox ran its `false` applet (with the path as argv[0] it would have printed its usage and exited 1 too,
        // so check the message carries no usage text).
        Assert.Contains("poststop hook " + TestBundle.Busybox + " exited with status 1", e);
        Assert.DoesNotContain("Usage", e);
        _h.AssertGone(id);
    }
}
