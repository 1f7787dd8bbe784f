using System.Text.Json;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Rt.Tests.RunImage;

/// <summary><c>tinyort run IMAGE</c> and the container verbs, with real busybox containers on an overlay root.</summary>
[Collection("containers")]
public sealed class RunImageTests : IDisposable
{
    private readonly ImageRoot _r = new();

    public void Dispose() => _r.Dispose();

    [Fact]
    public void Run_PrintsOutput_PropagatesExitCode_RemovesWithRm()
    {
        var (code, o, e) = _r.Cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 42");
        Assert.Equal(42, code);
        Assert.Equal("out\n", o);
        Assert.Contains("err", e);
        _r.AssertNoContainers();
    }

    [Fact]
    public void Run_WithoutRm_KeepsExitedContainer_UntilRm()
    {
        var (code, _, e) = _r.Cli("run", "--name", "keep", "busybox", "sh", "-c", "exit 3");
        Assert.True(code == 3, e);
        var (_, ps, _) = _r.Cli("ps", "-a");
        Assert.Contains("keep", ps);
        Assert.Contains("Exited (3)", ps);
        var (_, running, _) = _r.Cli("ps");
        Assert.DoesNotContain("keep", running);
        var id = Assert.Single(_r.ContainerIds());
        Assert.Equal(0, _r.Cli("rm", "keep").Code);
        _r.AssertGone(id);
        _r.AssertNoContainers();
    }

    [Fact]
    public void ImageConfig_Merge_EntrypointCmdEnvWorkdirUser()
    {
        _r.LoadVariant("merge", c =>
        {
            c["Entrypoint"] = new System.Text.Json.Nodes.JsonArray("sh", "-c");
            c["Cmd"] = new System.Text.Json.Nodes.JsonArray("echo image-cmd; id -u; id -g; pwd; echo $FOO $BAR");
            c["Env"] = new System.Text.Json.Nodes.JsonArray("PATH=/bin", "FOO=image", "BAR=image");
            c["WorkingDir"] = "/tmp";
            c["User"] = "nobody";
        });
        var (code, o, e) = _r.Cli("run", "--rm", "merge");
        Assert.True(code == 0, e);
        Assert.Equal("image-cmd\n65534\n65534\n/tmp\nimage image\n", o);
        // CMD args replace Cmd (Entrypoint stays); -e overrides the image's env; -w, -u override.
        (code, o, e) = _r.Cli("run", "--rm", "-e", "BAR=cli", "-w", "/etc", "-u", "0:65534", "merge", "echo cli; id -u; id -g; pwd; echo $FOO $BAR");
        Assert.True(code == 0, e);
        Assert.Equal("cli\n0\n65534\n/etc\nimage cli\n", o);
        // --entrypoint replaces the image's and drops its Cmd.
        (code, o, e) = _r.Cli("run", "--rm", "--entrypoint", "echo", "merge", "plain");
        Assert.True(code == 0, e);
        Assert.Equal("plain\n", o);
        _r.AssertNoContainers();
    }

    [Fact]
    public void Hostname_And_Network()
    {
        var (code, o, e) = _r.Cli("run", "--rm", "--hostname", "box1", "busybox", "sh", "-c", "hostname; ls /sys/class/net");
        Assert.True(code == 0, e);
        Assert.Equal("box1\nlo\n", o);
    }

    [Fact]
    public void Volumes_ReadOnly_And_ReadWrite()
    {
        var host = Directory.CreateTempSubdirectory("tinyo-vol-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(host, "in.txt"), "from host");
            var (code, o, e) = _r.Cli("run", "--rm", "-v", host + ":/data", "busybox", "sh", "-c", "cat /data/in.txt; echo written > /data/out.txt");
            Assert.True(code == 0, e);
            Assert.Equal("from host", o);
            Assert.Equal("written\n", File.ReadAllText(Path.Combine(host, "out.txt")));
            (code, _, e) = _r.Cli("run", "--rm", "-v", host + ":/data:ro", "busybox", "sh", "-c", "echo x > /data/ro.txt");
            Assert.NotEqual(0, code);
            Assert.Contains("Read-only", e);
            Assert.False(File.Exists(Path.Combine(host, "ro.txt")));
        }
        finally { Directory.Delete(host, recursive: true); }
        _r.AssertNoContainers();
    }

    [Fact]
    public void Writes_GoToUpperDir_SharedLayerUnchanged()
    {
        var layer = Directory.GetDirectories(_r.Root.Layers).Single();
        var before = Directory.GetFileSystemEntries(layer, "*", SearchOption.AllDirectories).Length;
        var (code, _, e) = _r.Cli("run", "--name", "w", "busybox", "sh", "-c", "echo data > /etc/new.txt; rm /bin/ls; echo changed >> /etc/passwd");
        Assert.True(code == 0, e);
        var id = Assert.Single(_r.ContainerIds());
        var upper = Path.Combine(_r.Root.Containers, id, "upper");
        Assert.Equal("data\n", File.ReadAllText(Path.Combine(upper, "etc", "new.txt")));
        Assert.Contains("changed", File.ReadAllText(Path.Combine(upper, "etc", "passwd")));
        Assert.DoesNotContain("changed", File.ReadAllText(Path.Combine(layer, "etc", "passwd")));
        Assert.True(File.Exists(Path.Combine(layer, "bin", "ls")) || new FileInfo(Path.Combine(layer, "bin", "ls")).LinkTarget is not null);
        Assert.Equal(before, Directory.GetFileSystemEntries(layer, "*", SearchOption.AllDirectories).Length);
        // A new container of the same image sees the pristine image.
        var (c2, o2, _) = _r.Cli("run", "--rm", "busybox", "sh", "-c", "ls /etc/new.txt 2>/dev/null || echo absent");
        Assert.Equal(0, c2);
        Assert.Equal("absent\n", o2);
        Assert.Equal(0, _r.Cli("rm", "w").Code);
        _r.AssertGone(id);
    }

    [Fact]
    public void Detached_Logs_Ps_Stop_Rm_LeavesNothing()
    {
        var (code, o, e) = _r.Cli("run", "-d", "--name", "bg", "busybox", "sh", "-c", "echo hello; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done");
        Assert.True(code == 0, e);
        var id = o.Trim();
        Assert.Matches("^[0-9a-f]{12}$", id);
        // The overlay lives only in the container's mount namespace: the host sees no mount of it.
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(_r.Path));
        WaitFor(() => _r.Cli("logs", "bg").Out.Contains("hello"));
        var (_, ps, _) = _r.Cli("ps");
        Assert.Contains("bg", ps);
        Assert.Contains("Up", ps);
        var (_, json, _) = _r.Cli("inspect", "bg");
        using (var doc = JsonDocument.Parse(json))
        {
            Assert.Equal("running", doc.RootElement[0].GetProperty("Status").GetString());
            Assert.Equal(id, doc.RootElement[0].GetProperty("Id").GetString());
        }
        (code, _, e) = _r.Cli("stop", "-t", "5", "bg");
        Assert.True(code == 0, e);
        Assert.Contains("bye", _r.Cli("logs", "bg").Out);
        Assert.DoesNotContain("bg", _r.Cli("ps").Out);
        Assert.Contains("bg", _r.Cli("ps", "-a").Out);
        Assert.Equal(0, _r.Cli("rm", "bg").Code);
        _r.AssertGone(id);
        _r.AssertNoContainers();
    }

    [Fact]
    public void Stop_KillsAfterTimeout_WhenTermIgnored()
    {
        var (code, o, e) = _r.Cli("run", "-d", "--name", "stubborn", "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done");
        Assert.True(code == 0, e);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(0, _r.Cli("stop", "-t", "1", "stubborn").Code);
        Assert.InRange(sw.ElapsedMilliseconds, 900, 8000);
        Assert.Contains("Exited", _r.Cli("ps", "-a").Out);
        Assert.Equal(0, _r.Cli("rm", "stubborn").Code);
        _r.AssertGone(o.Trim());
    }

    [Fact]
    public void Kill_WithSignal()
    {
        var (code, o, e) = _r.Cli("run", "-d", "--name", "k", "busybox", "sh", "-c", "trap 'echo usr1' USR1; while true; do sleep 0.1; done");
        Assert.True(code == 0, e);
        Thread.Sleep(200);
        Assert.Equal(0, _r.Cli("kill", "-s", "USR1", "k").Code);
        WaitFor(() => _r.Cli("logs", "k").Out.Contains("usr1"));
        Assert.Contains("Up", _r.Cli("ps").Out);
        Assert.Equal(0, _r.Cli("kill", "k").Code); // SIGKILL by default, as docker
        WaitFor(() => !_r.Cli("ps").Out.Contains(" k "));
        var (rc, _, err) = _r.Cli("rm", "k");
        Assert.True(rc == 0, err);
        _r.AssertGone(o.Trim());
    }

    [Fact]
    public void Rm_RefusesRunning_UnlessForced()
    {
        var (_, o, _) = _r.Cli("run", "-d", "--name", "busy", "busybox", "sleep", "30");
        var (code, _, e) = _r.Cli("rm", "busy");
        Assert.Equal(1, code);
        Assert.Contains("is running", e);
        Assert.Equal(0, _r.Cli("rm", "-f", "busy").Code);
        _r.AssertGone(o.Trim());
    }

    [Fact]
    public void Exec_SeesSamePidNamespace_AndFilesystem()
    {
        var (code, o, e) = _r.Cli("run", "-d", "--name", "ex", "busybox", "sh", "-c", "echo marker > /tmp/m; sleep 30; true");
        Assert.True(code == 0, e);
        WaitFor(() => _r.Cli("exec", "ex", "cat", "/tmp/m").Out == "marker\n");
        var (c1, cmdline, e1) = _r.Cli("exec", "ex", "cat", "/proc/1/cmdline");
        Assert.True(c1 == 0, e1);
        Assert.StartsWith("sh\0-c\0", cmdline);
        var (c2, ps, _) = _r.Cli("exec", "ex", "ps");
        Assert.Equal(0, c2);
        Assert.Contains("sleep 30", ps);
        Assert.True(ps.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length <= 5, ps); // only the container's processes
        var (c3, hn, _) = _r.Cli("exec", "-e", "X=1", "-w", "/etc", "ex", "sh", "-c", "hostname; echo $X; pwd; exit 5");
        Assert.Equal(5, c3);
        Assert.Equal($"{o.Trim()}\n1\n/etc\n", hn);
        // The container's seccomp filter and capability set apply to the exec'd process too.
        var (c5, status, _) = _r.Cli("exec", "ex", "grep", "-E", "^(Seccomp|CapBnd|NoNewPrivs):", "/proc/self/status");
        Assert.Equal(0, c5);
        Assert.Contains("Seccomp:\t2", status);
        Assert.Contains("NoNewPrivs:\t1", status);
        Assert.Contains("CapBnd:\t00000000a80425fb", status);
        var (c4, _, e4) = _r.Cli("exec", "ex", "no-such-binary");
        Assert.Equal(1, c4);
        Assert.Contains("not found", e4);
        Assert.Equal(0, _r.Cli("rm", "-f", "ex").Code);
        _r.AssertGone(o.Trim());
    }

    [Fact]
    public void Memory_Limit_OomReported()
    {
        var (code, _, e) = _r.Cli("run", "--rm", "--memory", "16m", "busybox", "sh", "-c", "x=a; while true; do x=$x$x; done");
        Assert.Equal(137, code);
        Assert.Contains("OOM", e);
        _r.AssertNoContainers();
    }

    [Fact]
    public void Name_Collision_IsRefused()
    {
        var (code, o, e) = _r.Cli("run", "-d", "--name", "dup", "busybox", "sleep", "30");
        Assert.True(code == 0, e);
        var (c2, _, e2) = _r.Cli("run", "--name", "dup", "busybox", "true");
        Assert.Equal(1, c2);
        Assert.Contains("already in use", e2);
        Assert.Single(_r.ContainerIds());
        Assert.Equal(0, _r.Cli("rm", "-f", "dup").Code);
        _r.AssertGone(o.Trim());
    }

    [Fact]
    public void Gc_KeepsLayersOfContainers_RmiRefusesUsedImage()
    {
        var (code, o, e) = _r.Cli("run", "-d", "--name", "user", "busybox", "sleep", "30");
        Assert.True(code == 0, e);
        var (c1, _, e1) = _r.Cli("rmi", "busybox");
        Assert.Equal(1, c1);
        Assert.Contains("used by container user", e1);
        Assert.Equal(0, _r.Cli("rmi", "-f", "busybox").Code);
        Assert.Equal(0, _r.Cli("gc").Code);
        Assert.Single(Directory.GetDirectories(_r.Root.Layers));
        Assert.Equal(0, _r.Cli("exec", "user", "true").Code);
        Assert.Equal(0, _r.Cli("rm", "-f", "user").Code);
        _r.AssertGone(o.Trim());
        Assert.Equal(0, _r.Cli("gc").Code);
        Assert.Empty(Directory.GetDirectories(_r.Root.Layers));
    }

    [Theory]
    [InlineData("no such image", "run", "--pull", "never", "nosuchimage")]
    [InlineData("mount source", "run", "-v", "/nonexistent-tinyo-src:/x", "busybox", "true")]
    [InlineData("invalid --memory", "run", "--memory", "12q", "busybox", "true")]
    [InlineData("no command specified", "run", "nocmd")]
    [InlineData("invalid container name", "run", "--name", "../evil", "busybox", "true")]
    [InlineData("unable to find user", "run", "-u", "nosuchuser", "busybox", "true")]
    [InlineData("not found in PATH", "run", "busybox", "no-such-binary")]
    [InlineData("no such container", "rm", "nosuch")]
    [InlineData("invalid --network", "run", "--network", "bridge", "busybox", "true")]
    public void BadInput_OneLineError_NothingLeft(string message, params string[] args)
    {
        _r.LoadVariant("nocmd", c => { c.Remove("Cmd"); });
        static HashSet<string> Cgroups() => Directory.Exists("/sys/fs/cgroup/memory/tinyo")
            ? [.. Directory.GetDirectories("/sys/fs/cgroup/memory/tinyo").Select(Path.GetFileName).OfType<string>().Where(n => System.Text.RegularExpressions.Regex.IsMatch(n, "^[0-9a-f]{12}$"))]
            : [];
        var cgBefore = Cgroups();
        var (code, o, e) = _r.Cli(args);
        Assert.NotEqual(0, code);
        Assert.Contains(message, e);
        Assert.StartsWith("tinyort: ", e);
        Assert.Single(e.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("   at ", e);
        _r.AssertNoContainers();
        if (Directory.Exists(Path.Combine(_r.Path, "containers"))) Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_r.Path, "containers")));
        // No cgroup of an image container appeared. The tinyo cgroups are machine-wide: one of a container in another
        // test root (another suite running at the same time) is not this run's (ids are random).
        bool OfAnotherRoot(string id) => Directory.GetDirectories(Path.GetTempPath(), "tinyo-*")
            .Any(d => d != _r.Path && Directory.Exists(Path.Combine(d, "containers", id)));
        List<string> appeared = [.. Cgroups().Except(cgBefore).Where(id => !OfAnotherRoot(id))];
        Assert.Empty(appeared);
    }

    [Fact]
    public void ManyLayers_LowerdirLongerThanAPage_UsesNewMountApi()
    {
        // 45 layers × ~110-character paths: the lowerdir= string exceeds a page, so lowerdir+ is used.
        _r.LoadVariant("deep", _ => { }, 45);
        Assert.True(Directory.GetDirectories(_r.Root.Layers).Sum(d => d.Length + 1) > 4096);
        var (code, o, e) = _r.Cli("run", "--rm", "deep", "sh", "-c", "cat /layers/top; ls /layers | wc -l; cat /layers/0");
        Assert.True(code == 0, e);
        Assert.Equal("44\n46\n0\n", o);
        _r.AssertNoContainers();
    }

    [Fact]
    public void Limits_MemoryCpusPids_ReachTheCgroup()
    {
        var (code, o, e) = _r.Cli("run", "-d", "--memory", "32m", "--cpus", "0.5", "--pids", "50", "busybox", "sleep", "30");
        Assert.True(code == 0, e);
        var id = o.Trim();
        if (Directory.Exists($"/sys/fs/cgroup/memory/tinyo/{id}"))
        {
            Assert.Equal("33554432", File.ReadAllText($"/sys/fs/cgroup/memory/tinyo/{id}/memory.limit_in_bytes").Trim());
            Assert.Equal("50000", File.ReadAllText($"/sys/fs/cgroup/cpu/tinyo/{id}/cpu.cfs_quota_us").Trim());
            Assert.Equal("50", File.ReadAllText($"/sys/fs/cgroup/pids/tinyo/{id}/pids.max").Trim());
        }
        else
        {
            Assert.Equal("33554432", File.ReadAllText($"/sys/fs/cgroup/tinyo/{id}/memory.max").Trim());
            Assert.Equal("50000 100000", File.ReadAllText($"/sys/fs/cgroup/tinyo/{id}/cpu.max").Trim());
            Assert.Equal("50", File.ReadAllText($"/sys/fs/cgroup/tinyo/{id}/pids.max").Trim());
        }
        Assert.Equal(0, _r.Cli("rm", "-f", id).Code);
        _r.AssertGone(id);
    }

    [Fact]
    public void User_Lookup_DoesNotFollowSymlinksOutOfTheImage()
    {
        // The top layer replaces /etc/passwd by a symlink that climbs out: resolved inside the layer, the climb stops at
        // the layer's root and the link points at itself (the host's /etc/passwd, which has a "daemon" user, is never read).
        Assert.Contains("\ndaemon:", "\n" + File.ReadAllText("/etc/passwd"));
        _r.LoadVariant("evil", _ => { }, 0, w =>
            w.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.SymbolicLink, "etc/passwd") { LinkName = "../../../../../../../etc/passwd" }));
        var (code, _, e) = _r.Cli("run", "--rm", "-u", "daemon", "evil", "id");
        Assert.Equal(1, code);
        Assert.Equal("tinyort: the image's /etc/passwd is a symlink loop\n", e);
        _r.AssertNoContainers();
    }

    [Fact]
    public void DetachedRm_IsRemovedAfterExit()
    {
        var (code, o, e) = _r.Cli("run", "-d", "--rm", "--name", "once", "busybox", "true");
        Assert.True(code == 0, e);
        WaitFor(() => !_r.Cli("ps", "-a").Out.Contains("once"));
        _r.AssertGone(o.Trim());
        // The name is free again.
        (code, _, e) = _r.Cli("run", "--rm", "--name", "once", "busybox", "true");
        Assert.True(code == 0, e);
        _r.AssertNoContainers();
    }

    [Fact]
    public void MissingImage_IsPulledFirst_UnlessPullNever()
    {
        using var registry = new TestRegistry();
        registry.Push(BusyboxImage.Get().Layout, "latest", "tinyo/bb:latest");
        var name = $"{registry.Host}/tinyo/bb";
        var (code, _, e) = _r.Cli("run", "--rm", "--pull", "never", name, "true");
        Assert.Equal(1, code);
        Assert.Contains("no such image", e);
        (code, var o, e) = _r.Cli("run", "--rm", name, "echo", "pulled");
        Assert.True(code == 0, e);
        Assert.Equal("pulled\n", o);
        Assert.Contains("pulling", e);
        Assert.Contains(name, _r.Cli("images").Out);
        _r.AssertNoContainers();
    }

    private static void WaitFor(Func<bool> cond, int ms = 5000)
    {
        var end = Environment.TickCount64 + ms;
        while (!cond())
        {
            if (Environment.TickCount64 > end) Assert.Fail("condition not reached in time");
            Thread.Sleep(50);
        }
    }
}
