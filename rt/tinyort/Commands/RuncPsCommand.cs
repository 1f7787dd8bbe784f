using System.CommandLine;
using System.Globalization;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>
/// runc's <c>ps [--format table|json] ID [PS_ARGS...]</c>: the processes of one container. containerd's shim calls
/// <c>ps --format json ID</c> for <c>docker top</c> and reads a JSON array of host pids; the table runs the host's
/// <c>ps</c> (default <c>-ef</c>) and keeps its header and the container's rows, as runc does. Shares the verb with
/// the docker-like <c>ps</c> (<see cref="PsCommand"/>): a container id or <c>--format</c> selects this one.
/// </summary>
internal static class RuncPsCommand
{
    private static readonly HashSet<string> GlobalValueOptions = ["--root", "--log", "--log-format"];

    /// <summary>Whether <paramref name="args"/> is runc's form of <c>ps</c> (it names a container or a --format).</summary>
    public static bool Matches(string[] args)
    {
        int i = 0;
        while (i < args.Length && args[i].StartsWith('-')) { if (GlobalValueOptions.Contains(args[i])) i++; i++; }
        if (i >= args.Length || args[i] != "ps") return false;
        for (i++; i < args.Length; i++)
        {
            var a = args[i];
            if (a is "--format" or "-f" || a.StartsWith("--format=", StringComparison.Ordinal)) return true;
            if (a is "-o" or "--output" || GlobalValueOptions.Contains(a)) { i++; continue; }
            if (!a.StartsWith('-')) return true;
        }
        return false;
    }

    public static Command Build(Option<string?> root)
    {
        var id = OciCommon.IdArgument();
        var psArgs = new Argument<string[]>("ps-args") { Description = "Arguments for the host's ps (table format; default -ef)", Arity = ArgumentArity.ZeroOrMore };
        var format = new Option<string>("--format", "-f") { Description = "table or json", DefaultValueFactory = _ => "table" };
        format.AcceptOnlyFromAmong("table", "json");
        var cmd = new Command("ps", "List the processes of a container (runc)") { id, psArgs, format };
        cmd.SetAction(r => OciCommon.Guard(r, () =>
        {
            var pids = ContainerControl.Pids(RuntimeRoot.Resolve(r.GetValue(root)), r.GetValue(id)!);
            if (r.GetValue(format) == "json")
            {
                Console.Out.WriteLine("[" + string.Join(',', pids.Select(p => p.ToString(CultureInfo.InvariantCulture))) + "]");
                return 0;
            }
            var args = r.GetValue(psArgs) is { Length: > 0 } a ? a : ["-ef"];
            var (code, output) = HostPs(args);
            if (code != 0) throw new RtException($"ps {string.Join(' ', args)} failed: {output.Trim()}");
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (lines.Length == 0) return 0;
            int col = Array.IndexOf(lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries), "PID");
            if (col < 0) throw new RtException("ps: no PID column in its output");
            var set = new HashSet<int>(pids);
            Console.Out.WriteLine(lines[0]);
            foreach (var line in lines.Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length > col && int.TryParse(f[col], NumberStyles.None, CultureInfo.InvariantCulture, out var p) && set.Contains(p))
                    Console.Out.WriteLine(line);
            }
            return 0;
        }));
        return cmd;
    }

    private static (int Code, string Output) HostPs(string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("ps") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = System.Diagnostics.Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            var o = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, p.ExitCode == 0 ? o : err.Result + o);
        }
        catch (System.ComponentModel.Win32Exception e) { throw new RtException("cannot run ps: " + e.Message); }
    }
}
