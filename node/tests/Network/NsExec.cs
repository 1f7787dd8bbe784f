using System.Diagnostics;

namespace Tinyo.Node.Tests.Network;

/// <summary>Commands inside a test's network namespaces (<c>nsenter --net=PATH</c>: fine in tests, never in the node).</summary>
public static class NsExec
{
    /// <summary>Runs to completion; exit code and stdout+stderr.</summary>
    public static (int Code, string Output) Run(string netns, params string[] args)
    {
        var psi = new ProcessStartInfo("nsenter") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add("--net=" + netns);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(30_000))
        {
            p.Kill();
            p.WaitForExit();
            return (-1, "timeout");
        }
        return (p.ExitCode, o.Result + e.Result);
    }

    /// <summary>Starts a long-running command; the caller kills it by pid (Kill + WaitForExit).</summary>
    public static Process Start(string netns, params string[] args)
    {
        var psi = new ProcessStartInfo("nsenter") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("--net=" + netns);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>Kills a process started by <see cref="Start"/> (SIGKILL, by pid) and reaps it.</summary>
    public static void Stop(Process? p)
    {
        if (p is null) return;
        try
        {
            if (!p.HasExited)
            {
                p.Kill(); // nsenter execs the command: the pid is the server itself
                p.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException) { }
        p.Dispose();
    }
}
