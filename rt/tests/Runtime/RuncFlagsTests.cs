using System.Diagnostics;
using System.Text.Json;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>The runc flags and verbs engines (conmon, containerd) use beyond the basic lifecycle.</summary>
[Collection("containers")]
public sealed class RuncFlagsTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    private (int Code, string Out, string Err) Cli(params string[] args) => _h.Cli(args);

    [Fact]
    public void Features_ReportsHooksNamespacesCgroups()
    {
        var (code, o, e) = Cli("features");
        Assert.True(code == 0, e);
        using var doc = JsonDocument.Parse(o);
        var r = doc.RootElement;
        Assert.Equal("1.2.0", r.GetProperty("ociVersionMax").GetString());
        Assert.Contains("createRuntime", r.GetProperty("hooks").EnumerateArray().Select(x => x.GetString()));
        Assert.Contains("pid", r.GetProperty("linux").GetProperty("namespaces").EnumerateArray().Select(x => x.GetString()));
        Assert.Contains("CAP_SYS_ADMIN", r.GetProperty("linux").GetProperty("capabilities").EnumerateArray().Select(x => x.GetString()));
        Assert.True(r.GetProperty("linux").GetProperty("seccomp").GetProperty("enabled").GetBoolean());
    }

    [Fact]
    public void Version_HandParsedFastPath_PrintsWhatTheFullParserPrints()
    {
        // `--version` alone is answered before System.CommandLine is built (a build-time constant); with a global
        // option before it (--root), the full parser answers from the assembly's attribute. Both print the same line.
        var (code, fast, e) = _h.Cli(["--version"], withRoot: false);
        Assert.True(code == 0, e);
        Assert.Matches(@"^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?(\+[0-9a-f]+)?\n$", fast);
        var (code2, full, e2) = Cli("--version");
        Assert.True(code2 == 0, e2);
        Assert.Equal(full.TrimEnd(), fast.TrimEnd());
    }

    [Fact]
    public void CreateFlags_Accepted_ExecProcessFile_Detached_DeleteForceOfMissing()
    {
        using var b = new TestBundle("sleep", "30");
        var id = ContainerHarness.NewId("runc");
        _h.Track(id);
        var (code, _, e) = Cli("create", "--bundle", b.Write(), "--no-pivot", "--no-new-keyring", "--preserve-fds", "0", id);
        Assert.True(code == 0, e);
        Assert.Equal(0, Cli("start", id).Code);

        // conmon's exec: an OCI process object in a file, detached, pid written; output on our stdio.
        var proc = Path.Combine(_h.Root.Path, "process.json");
        File.WriteAllText(proc, """
            {"terminal":false,"user":{"uid":65534,"gid":65534,"additionalGids":[65534]},"args":["sh","-c","echo $ONLY; id -u; pwd; echo ${TERM:-unset}"],
             "env":["ONLY=from-process","PATH=/bin"],"cwd":"/tmp","capabilities":{"bounding":[],"effective":[],"permitted":[]}}
            """);
        var pidFile = Path.Combine(_h.Root.Path, "exec.pid");
        string o;
        (code, o, e) = Cli("exec", "--pid-file", pidFile, "--process", proc, "--detach", id);
        Assert.True(code == 0, e);
        var pid = int.Parse(File.ReadAllText(pidFile));
        Assert.True(pid > 0);
        // Detached: tinyort returned at once; the process finishes by itself (its parent is gone, init reaps it).
        var sw = Stopwatch.StartNew();
        while (Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z") && sw.ElapsedMilliseconds < 10_000) Thread.Sleep(20);
        o = File.ReadAllText(Path.Combine(_h.Root.Path, "cli.out"));
        // The env is exactly the process's: the container's TERM=xterm is not added.
        Assert.Equal("from-process\n65534\n/tmp\nunset\n", o);

        (code, _, e) = Cli("exec", "--process", proc, id, "echo", "both");
        Assert.Equal(1, code);
        Assert.Contains("either --process or a command", e);

        (code, _, e) = Cli("create", "--bundle", b.Dir, "--preserve-fds", "2", id + "x");
        Assert.Equal(1, code);
        Assert.Contains("--preserve-fds 2 is not supported", e);
        _h.AssertGone(id + "x");

        Assert.Equal(0, Cli("delete", "--force", id).Code);
        _h.AssertGone(id, b);
        // runc: deleting a container that does not exist with --force succeeds; without it, it is an error.
        Assert.Equal(0, Cli("delete", "--force", id).Code);
        (code, _, e) = Cli("delete", id);
        Assert.Equal(1, code);
        Assert.Contains("does not exist", e);
    }
}
