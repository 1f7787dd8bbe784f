using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Tinyo.Rt.Tests.Fixtures;

/// <summary>Where things are: the repo, the tinyort binary; plus small process and port helpers for fixtures.</summary>
public static class TestPaths
{
    /// <summary>The repository root (the directory holding tinyo.slnx).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "tinyo.slnx"))) return d.FullName;
        throw new InvalidOperationException("tinyo.slnx not found above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// The tinyort executable: <c>$TINYO_BIN/tinyort</c> (the published NativeAOT binary, as `make test` sets it),
    /// else the JIT build the test project builds alongside itself.
    /// </summary>
    public static string Tinyort
    {
        get
        {
            var bin = Environment.GetEnvironmentVariable("TINYO_BIN");
            if (!string.IsNullOrEmpty(bin))
            {
                var p = File.Exists(bin) ? bin : Path.Combine(bin, "tinyort");
                if (File.Exists(p)) return p;
            }
            foreach (var cfg in new[] { "debug_linux-x64", "release_linux-x64", "debug", "release" })
            {
                var p = Path.Combine(RepoRoot, "artifacts", "bin", "tinyort", cfg, "tinyort");
                if (File.Exists(p)) return p;
            }
            throw new InvalidOperationException("tinyort binary not found: set TINYO_BIN or build rt/tinyort");
        }
    }

    /// <summary>A free TCP port on 127.0.0.1.</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>Runs a program to completion; returns exit code, stdout, stderr.</summary>
    public static (int Code, string Out, string Err) Run(string file, IEnumerable<string> args, IDictionary<string, string>? env = null, int timeoutMs = 120_000)
    {
        using var p = Start(file, args, env);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeoutMs} ms");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Starts a program with redirected output.</summary>
    public static System.Diagnostics.Process Start(string file, IEnumerable<string> args, IDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null)
            foreach (var (k, v) in env) psi.Environment[k] = v;
        return System.Diagnostics.Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
    }

    /// <summary>Runs a program and throws with its output when it fails.</summary>
    public static string Check(string file, params string[] args)
    {
        var (code, o, e) = Run(file, args);
        if (code != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({code}): {e}{o}");
        return o;
    }
}

/// <summary>A temporary directory, deleted (recursively, without following symlinks) on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir(string prefix = "tinyo-test-")
    {
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Tinyo.Rt.Images.ImageGc.DeleteTree(Path);
        }
        catch (IOException)
        {
        }
    }
}
