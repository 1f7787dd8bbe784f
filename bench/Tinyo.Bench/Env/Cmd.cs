using System.Diagnostics;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Bench.Env;

/// <summary>Runs the commands under test: to completion, output captured, a failure is an exception with its stderr.</summary>
public static class Cmd
{
    /// <summary>Runs FILE ARGS and throws when it exits non-zero.</summary>
    public static string Run(string file, params string[] args)
    {
        var (code, o, e) = TestPaths.Run(file, args, timeoutMs: 300_000);
        if (code != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {code}: {e.Trim()} {o.Trim()}");
        return o;
    }

    /// <summary>Runs and returns the exit code, ignoring output (cleanup paths).</summary>
    public static int TryRun(string file, params string[] args)
    {
        try { return TestPaths.Run(file, args, timeoutMs: 120_000).Code; }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception) { return -1; }
    }

    /// <summary>
    /// Starts FILE ARGS with stdio inherited (no pipes: a detached container inherits them and would hold a pipe
    /// open) and waits for it; returns the exit code.
    /// </summary>
    public static int RunInherited(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        p.WaitForExit();
        return p.ExitCode;
    }
}
