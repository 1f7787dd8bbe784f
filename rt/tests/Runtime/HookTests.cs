using System.Diagnostics;
using System.Text.Json;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>OCI lifecycle hooks: where each kind runs, in which order, with which state on stdin; failures and
/// timeouts.</summary>
[Collection("containers")]
public sealed class HookTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    private readonly string _out;

    public HookTests()
    {
        _out = Path.Combine(_h.Root.Path, "hooks");
        Directory.CreateDirectory(_out);
    }

    public void Dispose() => _h.Dispose();

    private static void MakeExecutable(string path) =>
        Assert.Equal(0, Linux.Libc.SysFchmodAt(Linux.Libc.AT_FDCWD_, path, 0x1ED /* 0755 */, 0));

    private (int Code, string Out, string Err) Cli(params string[] args) => _h.Cli(args);

    /// <summary>A host hook script recording its stdin, argument, environment and network namespace, and appending
    /// its kind to a shared order log. <paramref name="dir"/> is where it writes (as the hook sees the filesystem).</summary>
    private string HostHook(string kind, string dir)
    {
        var path = Path.Combine(_out, kind + ".sh");
        File.WriteAllText(path, $"#!/bin/sh\ncat > {dir}/{kind}.json\necho \"$1 $HOOKVAR\" > {dir}/{kind}.args\n" +
            $"readlink /proc/self/ns/net > {dir}/{kind}.netns\necho {kind} >> {dir}/order\n");
        MakeExecutable(path);
        return path;
    }

    private static SpecHook Hook(string path, string arg = "a1", int? timeout = null) =>
        new() { Path = path, Args = [path, arg], Env = ["HOOKVAR=v-" + arg, "PATH=/usr/bin:/bin"], Timeout = timeout };

    [Fact]
    public void AllHooks_RunInOrder_WithState_InTheRightNamespace()
    {
        using var b = new TestBundle("sh", "-c", "echo main >> /out/order");
        // startContainer runs inside the container, after pivot_root: its script lives in the rootfs and writes to
        // /out, a bind mount of the host directory.
        File.WriteAllText(Path.Combine(b.Rootfs, "start-hook"), "#!/bin/sh\ncat > /out/startContainer.json\necho startContainer >> /out/order\nhostname > /out/startContainer.hostname\n");
        MakeExecutable(Path.Combine(b.Rootfs, "start-hook"));
        b.Spec.Mounts!.Add(new SpecMount { Destination = "/out", Type = "bind", Source = _out, Options = ["rbind", "rw"] });
        b.Spec.Annotations = new() { ["org.test"] = "yes" };
        b.Spec.Hooks = new SpecHooks
        {
            Prestart = [Hook(HostHook("prestart", _out))],
            CreateRuntime = [Hook(HostHook("createRuntime", _out), "rt")],
            CreateContainer = [Hook(HostHook("createContainer", _out), "cc")],
            StartContainer = [new SpecHook { Path = "/start-hook", Args = ["/start-hook"], Env = ["PATH=/bin"] }],
            Poststart = [Hook(HostHook("poststart", _out), "ps")],
            Poststop = [Hook(HostHook("poststop", _out), "stop")],
        };
        var id = ContainerHarness.NewId("hook");
        _h.Track(id);
        var pidFile = Path.Combine(_h.Root.Path, "pid");
        var (code, _, err) = Cli("create", "--bundle", b.Write(), "--pid-file", pidFile, id);
        Assert.True(code == 0, err);
        int pid = int.Parse(File.ReadAllText(pidFile));
        Assert.Equal("prestart\ncreateRuntime\ncreateContainer\n", File.ReadAllText(Path.Combine(_out, "order")));

        var hostNet = new FileInfo("/proc/self/ns/net").LinkTarget + "\n";
        // Runtime-namespace hooks see the host's network namespace; createContainer runs in the container's.
        Assert.Equal(hostNet, File.ReadAllText(Path.Combine(_out, "createRuntime.netns")));
        Assert.NotEqual(hostNet, File.ReadAllText(Path.Combine(_out, "createContainer.netns")));
        Assert.Equal(new FileInfo($"/proc/{pid}/ns/net").LinkTarget + "\n", File.ReadAllText(Path.Combine(_out, "createContainer.netns")));
        // args[1..] and exactly the hook's env.
        Assert.Equal("rt v-rt\n", File.ReadAllText(Path.Combine(_out, "createRuntime.args")));
        using (var st = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out, "createRuntime.json"))))
        {
            Assert.Equal(id, st.RootElement.GetProperty("id").GetString());
            Assert.Equal("creating", st.RootElement.GetProperty("status").GetString());
            Assert.Equal(pid, st.RootElement.GetProperty("pid").GetInt32());
            Assert.Equal(b.Dir, st.RootElement.GetProperty("bundle").GetString());
            Assert.Equal("yes", st.RootElement.GetProperty("annotations").GetProperty("org.test").GetString());
        }
        using (var st = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out, "createContainer.json"))))
            Assert.Equal(pid, st.RootElement.GetProperty("pid").GetInt32());

        (code, _, err) = Cli("start", id);
        Assert.True(code == 0, err);
        var sw = Stopwatch.StartNew();
        while (!File.ReadAllText(Path.Combine(_out, "order")).Contains("main") && sw.ElapsedMilliseconds < 10_000) Thread.Sleep(20);
        using (var st = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out, "startContainer.json"))))
            Assert.Equal("created", st.RootElement.GetProperty("status").GetString());
        Assert.Equal("tinyo\n", File.ReadAllText(Path.Combine(_out, "startContainer.hostname"))); // inside the container
        using (var st = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out, "poststart.json"))))
        {
            Assert.Equal("running", st.RootElement.GetProperty("status").GetString());
            Assert.Equal(pid, st.RootElement.GetProperty("pid").GetInt32());
        }
        while (Cli("state", id).Out.Contains("running") && sw.ElapsedMilliseconds < 10_000) Thread.Sleep(20);
        Assert.False(File.Exists(Path.Combine(_out, "poststop.json")));
        (code, _, err) = Cli("delete", id);
        Assert.True(code == 0, err);
        using (var st = JsonDocument.Parse(File.ReadAllText(Path.Combine(_out, "poststop.json"))))
            Assert.Equal("stopped", st.RootElement.GetProperty("status").GetString());
        var order = File.ReadAllText(Path.Combine(_out, "order"));
        Assert.Equal("prestart\ncreateRuntime\ncreateContainer\nstartContainer\n", order[..order.IndexOf("startContainer\n", StringComparison.Ordinal)] + "startContainer\n");
        Assert.EndsWith("poststop\n", order);
        Assert.Contains("main\n", order);
        Assert.Contains("poststart\n", order);
        _h.AssertGone(id, b);
    }

    [Fact]
    public void FailingCreateRuntimeHook_FailsCreate_LeavesNothing()
    {
        using var b = new TestBundle("true");
        var bad = Path.Combine(_out, "bad.sh");
        File.WriteAllText(bad, "#!/bin/sh\necho 'network setup failed' >&2\nexit 3\n");
        MakeExecutable(bad);
        b.Spec.Hooks = new SpecHooks { CreateRuntime = [Hook(bad)], Poststop = [Hook(HostHook("poststop", _out))] };
        var id = ContainerHarness.NewId("hook");
        var (code, _, err) = Cli("create", "--bundle", b.Write(), id);
        Assert.Equal(1, code);
        Assert.Contains($"createRuntime hook {bad} exited with status 3: network setup failed", err);
        _h.AssertGone(id, b);
    }

    [Fact]
    public void HookTimeout_KillsHook_FailsCreate()
    {
        using var b = new TestBundle("true");
        var slow = Path.Combine(_out, "slow.sh");
        File.WriteAllText(slow, "#!/bin/sh\nexec sleep 30\n");
        MakeExecutable(slow);
        b.Spec.Hooks = new SpecHooks { Prestart = [Hook(slow, timeout: 1)] };
        var id = ContainerHarness.NewId("hook");
        var sw = Stopwatch.StartNew();
        var (code, _, err) = Cli("create", "--bundle", b.Write(), id);
        Assert.Equal(1, code);
        Assert.Contains("timed out after 1 s", err);
        Assert.InRange(sw.ElapsedMilliseconds, 900, 20_000);
        _h.AssertGone(id, b);
    }

    [Fact]
    public void FailingPoststartAndPoststop_AreWarnings_OciRun_RunsThem()
    {
        using var b = new TestBundle("sh", "-c", "exit 4");
        b.Spec.Hooks = new SpecHooks { Poststart = [Hook("/bin/false")], Poststop = [Hook(HostHook("poststop", _out), "p")] };
        var id = ContainerHarness.NewId("hook");
        var (code, _, err) = Cli("run", "--bundle", b.Write(), id);
        Assert.True(code == 4, err);
        Assert.Contains("warning: poststart hook /bin/false exited with status 1", err);
        Assert.Equal("p v-p\n", File.ReadAllText(Path.Combine(_out, "poststop.args")));
        _h.AssertGone(id, b);
    }

    [Fact]
    public void RelativeHookPath_IsRejected()
    {
        using var b = new TestBundle("true");
        b.Spec.Hooks = new SpecHooks { Poststart = [new SpecHook { Path = "hook.sh" }] };
        var id = ContainerHarness.NewId("hook");
        var (code, _, err) = Cli("create", "--bundle", b.Write(), id);
        Assert.Equal(1, code);
        Assert.Contains("hooks.poststart: path \"hook.sh\" is not absolute", err);
        _h.AssertGone(id, b);
    }
}
