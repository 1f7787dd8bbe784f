using System.Diagnostics;
using System.Text.Json;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>The runc-compatible CLI driving bundles through their lifecycle, via the tinyort binary.</summary>
[Collection("containers")]
public sealed class OciCliTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    private (int Code, string Out, string Err) Cli(params string[] args) => _h.Cli(args);

    private string Status(string id)
    {
        var (code, o, e) = Cli("state", id);
        Assert.True(code == 0, e);
        using var doc = JsonDocument.Parse(o);
        Assert.Equal(id, doc.RootElement.GetProperty("id").GetString());
        return doc.RootElement.GetProperty("status").GetString()!;
    }

    [Fact]
    public void CreateStartStateKillDelete()
    {
        // The marker says the trap is installed: a TERM sent to a pid 1 without a handler is dropped by the kernel.
        using var b = new TestBundle("sh", "-c", "trap 'exit 0' TERM; touch /tmp/trapped; while true; do sleep 0.1; done");
        var id = ContainerHarness.NewId("cli");
        _h.Track(id);
        var pidFile = Path.Combine(_h.Root.Path, "pid");

        var (code, _, err) = Cli("create", "--bundle", b.Write(), "--pid-file", pidFile, id);
        Assert.True(code == 0, err);
        int pid = int.Parse(File.ReadAllText(pidFile));
        var (_, stateJson, _) = Cli("state", id);
        using (var doc = JsonDocument.Parse(stateJson))
        {
            var r = doc.RootElement;
            Assert.Equal("created", r.GetProperty("status").GetString());
            Assert.Equal(pid, r.GetProperty("pid").GetInt32());
            Assert.Equal(b.Dir, r.GetProperty("bundle").GetString());
            Assert.Equal(b.Rootfs, r.GetProperty("rootfs").GetString());
            Assert.False(string.IsNullOrEmpty(r.GetProperty("ociVersion").GetString()));
            Assert.EndsWith("Z", r.GetProperty("created").GetString());
        }
        var (_, list, _) = Cli("list");
        Assert.Matches($@"(?m)^{id}\s+{pid}\s+created\s", list);

        Assert.Equal(0, Cli("start", id).Code);
        Assert.Equal("running", Status(id));
        var (again, _, againErr) = Cli("start", id);
        Assert.Equal(1, again);
        Assert.Contains("not created", againErr);

        var (dcode, _, derr) = Cli("delete", id);
        Assert.Equal(1, dcode);
        Assert.Equal($"tinyort: container {id} is running: stop it first or use --force\n", derr);

        var trapped = Path.Combine(b.Rootfs, "tmp", "trapped");
        var sw = Stopwatch.StartNew();
        while (!File.Exists(trapped) && sw.ElapsedMilliseconds < 10_000) Thread.Sleep(20);
        Assert.True(File.Exists(trapped), "the container's sh did not install its TERM trap within 10 s");
        Assert.Equal(0, Cli("kill", id, "TERM").Code);
        sw.Restart();
        while (Status(id) != "stopped" && sw.ElapsedMilliseconds < 10_000) Thread.Sleep(50);
        Assert.Equal("stopped", Status(id));
        var (_, json, _) = Cli("list", "--format", "json");
        Assert.Contains("\"stopped\"", json);

        Assert.Equal(0, Cli("delete", id).Code);
        var (scode, _, serr) = Cli("state", id);
        Assert.Equal(1, scode);
        Assert.Equal($"tinyort: container {id} does not exist\n", serr);
        _h.AssertGone(id, b);
    }

    [Fact]
    public void ForceDeleteKillsARunningContainer()
    {
        using var b = new TestBundle("sleep", "300");
        var id = ContainerHarness.NewId("force");
        _h.Track(id);
        Assert.Equal(0, Cli("run", "--detach", "--bundle", b.Write(), id).Code);
        Assert.Equal("running", Status(id));
        Assert.Equal(0, Cli("delete", "--force", id).Code);
        _h.AssertGone(id, b);
    }

    [Fact]
    public void RunPropagatesOutputAndExitCode()
    {
        using var b = new TestBundle("sh", "-c", "echo out; echo err >&2; exit 42");
        var id = ContainerHarness.NewId("run");
        _h.Track(id);
        var (code, o, e) = Cli("run", "--bundle", b.Write(), id);
        Assert.Equal(42, code);
        Assert.Equal("out\n", o);
        Assert.Equal("err\n", e);
        _h.AssertGone(id, b);
    }

    [Fact]
    public void RunReportsAnOomKill()
    {
        using var b = new TestBundle("tail", "/dev/zero");
        b.Spec.Linux!.Resources = new() { Memory = new() { Limit = 16 << 20 } };
        var id = ContainerHarness.NewId("oom");
        _h.Track(id);
        var (code, _, e) = Cli("run", "--bundle", b.Write(), id);
        Assert.Equal(137, code);
        Assert.Contains("OOM-killed", e);
        _h.AssertGone(id, b);
    }

    [Fact]
    public void BadInputIsOneLineWithoutStackTrace()
    {
        using var b = new TestBundle("true");
        File.WriteAllText(Path.Combine(b.Dir, "config.json"), "[not json");
        var id = ContainerHarness.NewId("badcli");
        var (code, o, e) = Cli("run", "--bundle", b.Dir, id);
        Assert.Equal(1, code);
        Assert.Equal("", o);
        Assert.StartsWith("tinyort: bundle ", e);
        Assert.Contains("invalid JSON", e);
        Assert.Single(e.TrimEnd('\n').Split('\n'));
        _h.AssertGone(id, b);
        var log = Path.Combine(_h.Root.Path, "runc.log");
        var (kcode, _, kerr) = Cli("--log", log, "--log-format", "json", "kill", "nope", "SIGBOGUS");
        Assert.Equal(1, kcode);
        Assert.Equal("tinyort: unknown signal \"SIGBOGUS\"\n", kerr);
        using var doc = JsonDocument.Parse(File.ReadAllText(log));
        Assert.Equal("error", doc.RootElement.GetProperty("level").GetString());
        Assert.Equal("unknown signal \"SIGBOGUS\"", doc.RootElement.GetProperty("msg").GetString());
    }

    [Fact]
    public void SpecWritesADefaultConfigThatRuns()
    {
        using var b = new TestBundle("unused");
        var (code, _, err) = Cli("spec", "--bundle", b.Dir, "sh", "-c", "grep -c . /proc/self/mountinfo >/dev/null && cat /sys/fs/cgroup/pids/pids.max && hostname");
        Assert.True(code == 0, err);
        Assert.Equal(1, Cli("spec", "--bundle", b.Dir).Code); // never overwrites
        var id = ContainerHarness.NewId("spec");
        _h.Track(id);
        var (rc, o, e) = Cli("run", "--bundle", b.Dir, id);
        Assert.True(rc == 0, e);
        Assert.Equal("max\ntinyo\n", o);
        _h.AssertGone(id, b);
    }

    [SkippableFact]
    [Trait("Category", "Security")] // CVE-2019-5736
    public void InitExecutableIsNotWritableThroughProcExe()
    {
        Skip.IfNot(ContainerHarness.Binary.Aot, "needs the NativeAOT tinyort (TINYO_BIN, as make test sets): a framework-dependent build cannot run sealed");
        using var b = new TestBundle("true");
        var id = ContainerHarness.NewId("seal");
        _h.Track(id);
        var (code, _, err) = Cli("create", "--bundle", b.Write(), id);
        Assert.True(code == 0, err);
        int pid = _h.Runtime().State(id).Pid;
        // While created, the container's pid 1 is tinyort itself: its exe must not lead back to a writable binary.
        var ex = Assert.ThrowsAny<IOException>(() => File.OpenHandle($"/proc/{pid}/exe", FileMode.Open, FileAccess.Write).Dispose());
        Assert.Contains("read-only", ex.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, Cli("delete", "--force", id).Code);
        _h.AssertGone(id, b);
    }
}
