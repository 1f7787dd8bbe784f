using Microsoft.Win32.SafeHandles;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Processes;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>
/// Runs containers for tests: a temp runtime root, the init binary (TINYO_BIN's AOT tinyort when set, else the
/// tinyort built next to the tests), output captured to a file, and a check that nothing of a container remains
/// (state, cgroup directories, mounts) — also after failures.
/// </summary>
public sealed class ContainerHarness : IDisposable
{
    public RuntimeRoot Root { get; }
    public List<string> Warnings { get; } = [];
    private readonly string _out;
    private readonly List<string> _ids = [];

    public ContainerHarness()
    {
        Root = new RuntimeRoot(Directory.CreateTempSubdirectory("tinyo-root-").FullName);
        _out = Path.Combine(Root.Path, "out.txt");
    }

    /// <summary>The tinyort to run as init and for CLI tests, and whether it is the sealed (NativeAOT) kind.</summary>
    public static (string Path, bool Aot) Binary
    {
        get
        {
            var bin = Environment.GetEnvironmentVariable("TINYO_BIN");
            if (!string.IsNullOrEmpty(bin) && File.Exists(Path.Combine(bin, "tinyort"))) return (Path.GetFullPath(Path.Combine(bin, "tinyort")), true);
            // artifacts/bin/Tinyo.Rt.Tests/<config>/ → artifacts/bin/tinyort/<config>_linux-x64/tinyort
            var artifacts = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", ".."));
            var config = Path.GetFileName(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory));
            var candidate = Path.Combine(artifacts, "tinyort", config + "_linux-x64", "tinyort");
            if (File.Exists(candidate)) return (candidate, false);
            throw new InvalidOperationException($"tinyort binary not found (set TINYO_BIN or build rt/tinyort): {candidate}");
        }
    }

    public ContainerRuntime Runtime(int stdout = -1, int stdin = 0)
    {
        var (path, aot) = Binary;
        return new ContainerRuntime(Root, new RuntimeOptions
        {
            InitCommand = [path], SealInit = aot, Stdin = stdin, Stdout = stdout < 0 ? 1 : stdout, Stderr = stdout < 0 ? 2 : stdout,
            Warn = Warnings.Add,
        });
    }

    public static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 60)];

    /// <summary>Runs a container in the foreground with stdout and stderr captured.</summary>
    public (ExitStatus Status, string Output) Run(TestBundle b, string? id = null, Action<int>? started = null)
    {
        id ??= NewId("t");
        _ids.Add(id);
        using (var f = File.OpenHandle(_out, FileMode.Create, FileAccess.ReadWrite))
        {
            var st = Runtime((int)f.DangerousGetHandle()).Run(id, b.Write(), started);
            AssertGone(id, b);
            return (st, File.ReadAllText(_out));
        }
    }

    /// <summary>Asserts that nothing of container <paramref name="id"/> remains.</summary>
    public void AssertGone(string id, TestBundle? b = null)
    {
        Assert.False(Directory.Exists(Path.Combine(Root.Containers, id)), $"state of {id} left behind");
        foreach (var c in new[] { "memory", "cpu", "pids", "devices", "cpuacct", "freezer", "blkio" })
            Assert.False(Directory.Exists($"/sys/fs/cgroup/{c}/tinyo/{id}"), $"cgroup {c}/tinyo/{id} left behind");
        Assert.False(Directory.Exists($"/sys/fs/cgroup/tinyo/{id}"), $"cgroup v2 tinyo/{id} left behind");
        if (b is not null)
            Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(b.Dir));
    }

    public void Track(string id) => _ids.Add(id);

    public void Dispose()
    {
        // Whatever a failed test left: kill and delete its containers before removing the root.
        var rt = Runtime();
        foreach (var id in _ids)
            try { rt.Delete(id, force: true); } catch (RtException) { }
        ExitMonitorTests.KillMonitor(Root); // a detached CLI start leaves the root's exit monitor (it idles out in 3 s)
        try { Directory.Delete(Root.Path, recursive: true); } catch (IOException) { }
    }

    /// <summary>
    /// Runs the tinyort binary (with <c>--root</c> this root unless <paramref name="withRoot"/> is false), stdout and
    /// stderr to files: a created container keeps its stdio open, so pipes would never reach EOF.
    /// </summary>
    public (int Code, string Out, string Err) Cli(string[] args, bool withRoot = true, int timeoutMs = 60_000)
    {
        var outFile = System.IO.Path.Combine(Root.Path, "cli.out");
        var errFile = System.IO.Path.Combine(Root.Path, "cli.err");
        var psi = new System.Diagnostics.ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(withRoot
            ? "exec \"$0\" --root \"$ROOT\" \"$@\" >\"$OUT\" 2>\"$ERR\" </dev/null"
            : "exec \"$0\" \"$@\" >\"$OUT\" 2>\"$ERR\" </dev/null");
        psi.ArgumentList.Add(Binary.Path);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["ROOT"] = Root.Path;
        psi.Environment["OUT"] = outFile;
        psi.Environment["ERR"] = errFile;
        using var p = System.Diagnostics.Process.Start(psi)!;
        Assert.True(p.WaitForExit(timeoutMs), "tinyort " + string.Join(' ', args) + " timed out");
        return (p.ExitCode, File.ReadAllText(outFile), File.ReadAllText(errFile));
    }
}
