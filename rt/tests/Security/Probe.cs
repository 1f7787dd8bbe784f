using System.Diagnostics;
using Tinyo.Rt.Tests.Runtime;

namespace Tinyo.Rt.Tests.Security;

/// <summary>The hostile test program (probe.c), built with <c>gcc -static</c> into a bundle's rootfs as /bin/probe.</summary>
internal static class Probe
{
    private static readonly string Source = Path.Combine(AppContext.BaseDirectory, "Security", "probe.c");

    public static void InstallInto(TestBundle b)
    {
        var output = Path.Combine(b.Rootfs, "bin", "probe");
        var psi = new ProcessStartInfo("gcc", ["-static", "-O1", "-o", output, Source]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0 && File.Exists(output), $"building the probe failed (gcc and libc6-dev are needed): {err}");
    }

    /// <summary>The probe's lines as attempt → result ("blocked (EPERM)", "ESCAPED (…)", "ok …").</summary>
    public static Dictionary<string, string> Parse(string output)
    {
        var d = new Dictionary<string, string>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int i = line.IndexOf(": ", StringComparison.Ordinal);
            if (i > 0) d.TryAdd(line[..i], line[(i + 2)..]);
        }
        return d;
    }
}
