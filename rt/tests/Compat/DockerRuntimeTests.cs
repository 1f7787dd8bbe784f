using System.Text.RegularExpressions;
using Tinyo.Rt.Tests.Fixtures;
using Tinyo.Rt.Tests.Runtime;

namespace Tinyo.Rt.Tests.Compat;

/// <summary>
/// A private Docker engine (scripts/peer-dockerd.sh: dockerd + containerd with their own roots, socket and bridge, no
/// iptables) with tinyort registered as an extra OCI runtime, and the test busybox image loaded into it (skopeo copies
/// the OCI layout to a docker-archive; no network). <c>docker run --runtime tinyort</c> makes containerd's
/// <c>containerd-shim-runc-v2</c> drive tinyort exactly as it drives runc. Dispose stops the engine and checks that
/// nothing of it remains: mounts, bridge, processes, cgroups.
/// </summary>
public sealed class DockerPeer : IDisposable
{
    private static readonly string Script = Path.Combine(TestPaths.RepoRoot, "scripts", "peer-dockerd.sh");
    /// <summary>The docker.io client matching its daemon (another docker CLI may come first in PATH).</summary>
    private static readonly string? Cli = new[] { "/usr/bin/docker", "/usr/local/bin/docker" }.FirstOrDefault(File.Exists);
    private static readonly string[] CgroupParents = ["memory", "cpu", "cpuacct", "pids", "devices", "freezer", "blkio"];

    private readonly Dictionary<string, string> _env;
    private readonly bool _started;

    public const string Image = "tinyo-bb:latest";
    /// <summary>Why the engine is not available (then every test is skipped with this reason), or null.</summary>
    public string? Unavailable { get; }
    /// <summary>The engine's directory (roots, socket, logs).</summary>
    public string Dir { get; }
    public string Bridge { get; }
    /// <summary>The engine's own cgroup parent (another private dockerd may run at the same time).</summary>
    public string CgroupParent { get; }
    /// <summary>Where tinyort keeps the engine's containers: containerd passes runc's root to every runc-type runtime.</summary>
    public string TinyortRoot => Path.Combine(Dir, "exec", "runtime-runc", "moby");

    public DockerPeer()
    {
        var r = Guid.NewGuid().ToString("N");
        // Short: dockerd's and containerd's unix socket paths live under it (108-byte limit).
        Dir = Path.Combine("/tmp", "tinyo-dk-" + r[..8]);
        Bridge = "tiodkt" + r[8..14];
        CgroupParent = "tinyo-dk-" + r[..8];
        _env = new()
        {
            ["BRIDGE"] = Bridge,
            ["BRIDGE_CIDR"] = $"10.213.{200 + Convert.ToInt32(r[14..16], 16) % 50}.1/24",
            ["TINYORT"] = ContainerHarness.Binary.Path,
            ["CGROUP_PARENT"] = CgroupParent,
            ["DOCKER_HOST"] = "unix://" + Path.Combine(Dir, "docker.sock"),
        };
        if (!File.Exists("/usr/sbin/dockerd") || Cli is null) { Unavailable = "dockerd or the docker client is not installed (make deps installs docker.io)"; return; }
        if (!File.Exists("/usr/bin/skopeo")) { Unavailable = "skopeo is not installed (needed to load the test image into docker)"; return; }
        var (code, o, e) = TestPaths.Run(Script, ["start", Dir], _env, timeoutMs: 60_000);
        if (code != 0)
        {
            // The script stops what it started when the daemon does not answer; nothing to clean here.
            Unavailable = $"dockerd did not start (peer-dockerd.sh exit {code}): {e}{o}";
            return;
        }
        _started = true;
        try
        {
            var archive = Path.Combine(Dir, "busybox.tar");
            TestPaths.Check("/usr/bin/skopeo", "copy", "--quiet", "oci:" + BusyboxImage.Get().Layout + ":latest", $"docker-archive:{archive}:{Image}");
            var (lc, lo, le) = Docker("load", "-i", archive);
            if (lc != 0) throw new InvalidOperationException($"docker load failed: {le}{lo}");
            File.Delete(archive);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Runs the docker client against the private engine.</summary>
    public (int Code, string Out, string Err) Docker(params string[] args) => TestPaths.Run(Cli!, args, _env, timeoutMs: 120_000);

    /// <summary>Starts the docker client (to feed its stdin).</summary>
    public System.Diagnostics.Process Start(params string[] args) => TestPaths.Start(Cli!, args, _env);

    public void Dispose()
    {
        if (!_started) return;
        var (code, o, e) = TestPaths.Run(Script, ["stop", Dir], _env, timeoutMs: 120_000);
        Assert.True(code == 0, $"peer-dockerd.sh stop: {e}{o}");
        Assert.False(Directory.Exists(Dir), $"{Dir} left behind");
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(Dir));
        Assert.False(Directory.Exists("/sys/class/net/" + Bridge), $"bridge {Bridge} left behind");
        foreach (var c in CgroupParents)
            Assert.False(Directory.Exists($"/sys/fs/cgroup/{c}/{CgroupParent}"), $"cgroup {c}/{CgroupParent} left behind");
        foreach (var p in Directory.GetDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit)))
        {
            string cmdline;
            try { cmdline = File.ReadAllText($"/proc/{p}/cmdline"); }
            catch (IOException) { continue; }
            Assert.False(cmdline.Contains(Dir), $"process {p} of the engine left behind: {cmdline.Replace('\0', ' ')}");
        }
    }
}

/// <summary>
/// Docker (through containerd and its runc shim) with tinyort as the OCI runtime: output and exit codes, detached
/// containers with exec/logs/top/stop/kill/rm, terminals, stdin, stats, update, pause, OOM and Docker's exit codes for
/// a missing or non-executable command. Skipped, with the reason, only where dockerd cannot run.
/// </summary>
[Collection("containers")]
public sealed class DockerRuntimeTests : IClassFixture<DockerPeer>
{
    private readonly DockerPeer _d;

    public DockerRuntimeTests(DockerPeer d) => _d = d;

    private void SkipUnlessDocker() => Skip.If(_d.Unavailable is not null, _d.Unavailable);

    private (int Code, string Out, string Err) Docker(params string[] args) => _d.Docker(args);

    /// <summary><c>docker run</c> with tinyort and the test image.</summary>
    private (int Code, string Out, string Err) Run(params string[] args) => Docker(["run", "--runtime", "tinyort", .. args]);

    private static string Name(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..10];

    private string Id(string name) => Docker("inspect", "-f", "{{.Id}}", name).Out.Trim();

    private string Inspect(string name, string format) => Docker("inspect", "-f", format, name).Out.Trim();

    /// <summary>Where a v1 controller keeps the container's cgroup (under the engine's cgroup parent).</summary>
    private string CgroupFile(string controller, string id, string file) => $"/sys/fs/cgroup/{controller}/{_d.CgroupParent}/{id}/{file}";

    [SkippableFact]
    public void Run_PropagatesOutputAndExitCode_WithDockersNetwork()
    {
        SkipUnlessDocker();
        var (code, o, e) = Run("--rm", DockerPeer.Image, "echo", "hi");
        Assert.True(code == 0, e);
        Assert.Equal("hi\n", o);
        // The container has Docker's network: the libnetwork-setkey prestart hook (dispatched on its args[0]) ran.
        (code, o, e) = Run("--rm", DockerPeer.Image, "sh", "-c", "echo out; echo err >&2; ip -4 addr show eth0 | grep -c 'inet 10.213'; exit 3");
        Assert.True(code == 3, e);
        Assert.Equal("out\n1\n", o);
        Assert.Equal("err\n", e);
    }

    [SkippableFact]
    public void Detached_ExecLogsTopStop()
    {
        SkipUnlessDocker();
        var name = Name("bg");
        try
        {
            var (code, _, e) = Run("-d", "--name", name, DockerPeer.Image, "sh", "-c", "echo started; trap 'echo term; exit 7' TERM; while true; do sleep 1; done");
            Assert.True(code == 0, e);
            var id = Id(name);
            // tinyort, not runc, holds it (its layout: ROOT/containers/ID/state.json).
            Assert.True(File.Exists(Path.Combine(_d.TinyortRoot, "containers", id, "state.json")), "tinyort has no state of the container");

            // exec (runc's `exec --process P --detach --pid-file F`): output, exit code, the user, the container's cgroup.
            (code, var o, e) = Docker("exec", name, "sh", "-c", "echo in-exec; exit 4");
            Assert.True(code == 4, e);
            Assert.Equal("in-exec\n", o);
            (code, o, e) = Docker("exec", "-u", "nobody", name, "id", "-u");
            Assert.True(code == 0, e);
            Assert.Equal("65534\n", o);
            (code, o, e) = Docker("exec", name, "cat", "/proc/self/cgroup");
            Assert.True(code == 0, e);
            Assert.Contains($":memory:/{_d.CgroupParent}/{id}\n", o);
            Assert.Contains($":pids:/{_d.CgroupParent}/{id}\n", o);
            // A failed exec: the error comes back through --log, Docker answers 126 as it does for runc.
            (code, o, e) = Docker("exec", name, "no-such-command");
            Assert.Equal(126, code);
            Assert.Contains("executable file not found", o + e); // the docker client prints it on stdout

            // logs (the shim's FIFOs) and top (runc's `ps --format json ID`).
            Assert.Equal("started\n", Docker("logs", name).Out);
            (code, o, e) = Docker("top", name);
            Assert.True(code == 0, e);
            Assert.Contains("PID", o);
            Assert.Contains("while true", o);

            // stop: SIGTERM reaches the shell, which exits 7.
            (code, _, e) = Docker("stop", "-t", "10", name);
            Assert.True(code == 0, e);
            Assert.Equal("exited 7", Inspect(name, "{{.State.Status}} {{.State.ExitCode}}"));
            Assert.Equal("started\nterm\n", Docker("logs", name).Out);
        }
        finally { Docker("rm", "-f", name); }
        Assert.Empty(TinyortContainers());
    }

    [SkippableFact]
    public void Kill_And_RmForce_LeaveNothingInTinyort()
    {
        SkipUnlessDocker();
        var a = Name("kill");
        var b = Name("rmf");
        try
        {
            Assert.Equal(0, Run("-d", "--name", a, DockerPeer.Image, "sleep", "100").Code);
            Assert.Equal(0, Run("-d", "--name", b, DockerPeer.Image, "sh", "-c", "trap 'exit 9' USR1; while true; do sleep 1; done").Code);
            var (code, _, e) = Docker("kill", a);
            Assert.True(code == 0, e);
            Assert.Equal("137\n", Docker("wait", a).Out); // kill returns once the signal is sent
            Assert.Equal("exited 137", Inspect(a, "{{.State.Status}} {{.State.ExitCode}}"));
            (code, _, e) = Docker("kill", "-s", "USR1", b); // the signal is passed as given (pid 1 ignores it unless trapped)
            Assert.True(code == 0, e);
            Assert.Equal("9\n", Docker("wait", b).Out);
            (code, _, e) = Docker("rm", a);
            Assert.True(code == 0, e);
            Assert.Equal(0, Docker("start", b).Code);
            var id = Id(b);
            Assert.True(Directory.Exists(Path.Combine(_d.TinyortRoot, "containers", id)));
            (code, _, e) = Docker("rm", "-f", b);
            Assert.True(code == 0, e);
            Assert.False(Directory.Exists(CgroupFile("memory", id, "")), "the container's cgroup is left behind");
        }
        finally { Docker("rm", "-f", a, b); }
        Assert.Empty(TinyortContainers());
    }

    [SkippableFact]
    public void Tty_And_Stdin()
    {
        SkipUnlessDocker();
        // -t: the shim passes --console-socket to create and receives the pty master from tinyort.
        var (code, o, e) = Run("--rm", "-t", DockerPeer.Image, "sh", "-c", "test -t 0 && readlink /proc/self/fd/1; exit 2");
        Assert.True(code == 2, e);
        Assert.Equal("/dev/pts/0\r\n", o);

        // -i: the container's stdin is the shim's FIFO.
        using (var p = _d.Start("run", "--rm", "-i", "--runtime", "tinyort", DockerPeer.Image, "sh", "-c", "cat; exit 4"))
        {
            p.StandardInput.Write("hello\n");
            p.StandardInput.Close();
            _ = p.StandardError.ReadToEndAsync();
            var output = p.StandardOutput.ReadToEnd();
            Assert.True(p.WaitForExit(60_000), "docker run -i did not finish");
            Assert.Equal(4, p.ExitCode);
            Assert.Equal("hello\n", output);
        }

        var name = Name("tty");
        try
        {
            Assert.Equal(0, Run("-d", "--name", name, DockerPeer.Image, "sleep", "100").Code);
            (code, o, e) = Docker("exec", "-t", name, "sh", "-c", "readlink /proc/self/fd/0");
            Assert.True(code == 0, e);
            Assert.Matches(@"^/dev/pts/\d+\r\n$", o);
        }
        finally { Docker("rm", "-f", name); }
    }

    [SkippableFact]
    public void Stats_Update_Pause()
    {
        SkipUnlessDocker();
        var name = Name("res");
        try
        {
            Assert.Equal(0, Run("-d", "--name", name, DockerPeer.Image, "sleep", "100").Code);
            var id = Id(name);
            // stats: from the container's own cgroups (cpuacct joined: the host's total would read near 100% per core).
            var (code, o, e) = Docker("stats", "--no-stream", "--format", "{{.CPUPerc}} {{.PIDs}}", name);
            Assert.True(code == 0, e);
            var m = Regex.Match(o, @"^([0-9.]+)% (\d+)\n$");
            Assert.True(m.Success, o);
            Assert.Equal("1", m.Groups[2].Value);
            Assert.True(double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) < 20, $"sleep uses {o}");

            // update: runc's `update --resources -` with the new limits on stdin.
            (code, _, e) = Docker("update", "--memory", "64m", "--memory-swap", "128m", "--pids-limit", "40", name);
            Assert.True(code == 0, e);
            Assert.Equal("67108864", File.ReadAllText(CgroupFile("memory", id, "memory.limit_in_bytes")).Trim());
            Assert.Equal("40", File.ReadAllText(CgroupFile("pids", id, "pids.max")).Trim());

            // pause/unpause: the freezer.
            (code, _, e) = Docker("pause", name);
            Assert.True(code == 0, e);
            Assert.Equal("FROZEN", File.ReadAllText(CgroupFile("freezer", id, "freezer.state")).Trim());
            Assert.Equal("paused", Inspect(name, "{{.State.Status}}"));
            (code, _, e) = Docker("unpause", name);
            Assert.True(code == 0, e);
            Assert.Equal("THAWED", File.ReadAllText(CgroupFile("freezer", id, "freezer.state")).Trim());
            (code, o, e) = Docker("exec", name, "echo", "awake");
            Assert.True(code == 0, e);
            Assert.Equal("awake\n", o);
            // rm -f of a paused container: its processes are thawed so SIGKILL can end them.
            Assert.Equal(0, Docker("pause", name).Code);
        }
        finally { Docker("rm", "-f", name); }
        Assert.Empty(TinyortContainers());
    }

    [SkippableFact]
    public void MissingCommand_And_Oom_AsDockerReportsThem()
    {
        SkipUnlessDocker();
        // Docker's documented exit codes: 127 when the command is not found, 126 when it cannot be run.
        Assert.Equal(127, Run("--rm", DockerPeer.Image, "no-such-command").Code);
        Assert.Equal(127, Run("--rm", DockerPeer.Image, "/no/such/file").Code);
        var (code, _, e) = Run("--rm", DockerPeer.Image, "/etc/passwd");
        Assert.Equal(126, code);
        Assert.Contains("permission denied", e);

        var name = Name("oom");
        try
        {
            (code, _, e) = Run("--name", name, "--memory", "16m", "--memory-swap", "16m", DockerPeer.Image,
                "sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}");
            Assert.Equal(137, code);
            Assert.Equal("true 137", Inspect(name, "{{.State.OOMKilled}} {{.State.ExitCode}}"));
        }
        finally { Docker("rm", "-f", name); }
    }

    private List<string> TinyortContainers()
    {
        var dir = Path.Combine(_d.TinyortRoot, "containers");
        return Directory.Exists(dir) ? [.. Directory.GetDirectories(dir)] : [];
    }
}
