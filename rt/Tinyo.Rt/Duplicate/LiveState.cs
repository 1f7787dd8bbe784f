using System.Diagnostics;

namespace Tinyo.Rt.Duplicate;

/// <summary>
/// The bridge to CRIU for <c>dup --live</c> (a clone restored from a checkpoint of the source's memory). Before
/// anything is made it asks <c>criu check</c>; where that fails — Debian 12's criu 3.17 on a 6.18 kernel does —
/// <c>--live</c> is refused with criu's own words. Never pretended: a plain duplicate is not passed off as a live one.
/// </summary>
public static class LiveState
{
    /// <summary>Null when <c>criu check</c> passes, else why <c>--live</c> cannot be done here (criu's output).</summary>
    public static string? Unavailable()
    {
        string? criu = null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':'))
        {
            var p = Path.Combine(dir.Length == 0 ? "." : dir, "criu");
            if (File.Exists(p)) { criu = p; break; }
        }
        foreach (var p in new[] { "/usr/sbin/criu", "/sbin/criu" }) if (criu is null && File.Exists(p)) criu = p;
        if (criu is null) return "criu is not installed (apt-get install criu)";
        try
        {
            var psi = new ProcessStartInfo(criu, "check") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            var outTask = p.StandardOutput.ReadToEndAsync();
            var err = p.StandardError.ReadToEnd();
            if (!p.WaitForExit(30_000))
            {
                try { p.Kill(); } catch (InvalidOperationException) { }
                return "criu check did not finish within 30 s";
            }
            var all = (outTask.Result + err).Trim();
            if (p.ExitCode == 0) return null;
            // criu's error lines are its reason ("Error (criu/vdso.c:613): vdso: ..."): all of them, in its words.
            var lines = all.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var errors = Array.FindAll(lines, l => l.StartsWith("Error", StringComparison.Ordinal));
            var reason = errors.Length > 0 ? string.Join("; ", errors) : lines.Length > 0 ? lines[^1] : $"exit code {p.ExitCode}";
            return $"criu check fails on this host: {reason}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"cannot run {criu}: {e.Message}";
        }
    }
}
