using System.Diagnostics;
using System.Globalization;

namespace Tinyo.Ctl.Setup;

/// <summary>
/// The few systemctl and journalctl calls <c>tio ++</c> and <c>tio down</c> make. Running the tools rather than
/// speaking D-Bus keeps tio small and goes through exactly what an administrator would type.
/// </summary>
public static class Systemctl
{
    /// <summary>A unit's state as systemd reports it.</summary>
    /// <param name="ActiveState">active, activating, deactivating, inactive, failed, reloading.</param>
    /// <param name="MainPid">The main process, 0 when none.</param>
    public readonly record struct UnitState(string ActiveState, int MainPid)
    {
        /// <summary>Running or about to (systemd counts a pending restart as activating).</summary>
        public bool Up => ActiveState is "active" or "activating" or "reloading";
    }

    /// <summary>Runs systemctl; a failure throws with its own message.</summary>
    public static string Run(params string[] args)
    {
        var (code, output, err) = Exec("systemctl", args);
        if (code != 0)
            throw new CtlException($"systemctl {string.Join(' ', args)} failed: {(err.Trim().Length > 0 ? err.Trim() : "exit code " + code)}");
        return output;
    }

    /// <summary>ActiveState and MainPID of a unit (inactive, 0 for an unknown one).</summary>
    public static UnitState State(string unit)
    {
        var output = Run("show", "--property=ActiveState,MainPID", unit);
        string state = "inactive";
        int pid = 0;
        foreach (var line in output.Split('\n'))
        {
            if (line.StartsWith("ActiveState=", StringComparison.Ordinal)) state = line["ActiveState=".Length..].Trim();
            else if (line.StartsWith("MainPID=", StringComparison.Ordinal))
                _ = int.TryParse(line["MainPID=".Length..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out pid);
        }
        return new UnitState(state, pid);
    }

    /// <summary>How the unit's main process last ended, e.g. "result exit-code, exit status 1" ("" when unknown).</summary>
    public static string LastExit(string unit)
    {
        try
        {
            string result = "", status = "";
            foreach (var line in Run("show", "--property=Result,ExecMainStatus", unit).Split('\n'))
            {
                if (line.StartsWith("Result=", StringComparison.Ordinal)) result = line["Result=".Length..].Trim();
                else if (line.StartsWith("ExecMainStatus=", StringComparison.Ordinal)) status = line["ExecMainStatus=".Length..].Trim();
            }
            return result is "" or "success" ? "" : $"result {result}, exit status {status}";
        }
        catch (CtlException)
        {
            return "";
        }
    }

    /// <summary>The last lines a unit wrote to the journal, to explain a failed start ("" when unavailable).</summary>
    public static string JournalTail(string unit, int lines = 10)
    {
        try
        {
            var (_, output, _) = Exec("journalctl", ["--unit", unit, "--lines", lines.ToString(CultureInfo.InvariantCulture), "--output", "cat", "--no-pager", "--quiet"]);
            return output.TrimEnd();
        }
        catch (CtlException)
        {
            return "";
        }
    }

    private static (int Code, string Out, string Err) Exec(string tool, IReadOnlyList<string> args)
    {
        var psi = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // Machine-readable output: no pager, no colour, no "press a key" prompts.
        psi.Environment["SYSTEMD_PAGER"] = "";
        psi.Environment["SYSTEMD_COLORS"] = "0";
        psi.Environment["LC_ALL"] = "C";
        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new CtlException($"cannot run {tool}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new CtlException($"cannot run {tool}: {e.Message} (is systemd installed?)");
        }
        using (p)
        {
            p.StandardInput.Close();
            var err = p.StandardError.ReadToEndAsync();
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output, err.Result);
        }
    }
}
