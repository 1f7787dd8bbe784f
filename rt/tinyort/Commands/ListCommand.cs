using System.CommandLine;
using System.Text.Json;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort list [--format table|json] [-q]</c>: the containers of the root.</summary>
internal static class ListCommand
{
    public static Command Build(Option<string?> root)
    {
        var format = new Option<string>("--format", "-f") { Description = "table or json", DefaultValueFactory = _ => "table" };
        format.AcceptOnlyFromAmong("table", "json");
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print ids only" };
        var cmd = new Command("list", "List containers") { format, quiet };
        cmd.SetAction(r => OciCommon.Guard(r, () =>
        {
            var list = OciCommon.Runtime(r, root).List();
            if (r.GetValue(quiet)) { foreach (var s in list) Console.Out.WriteLine(s.Id); return 0; }
            if (r.GetValue(format) == "json") { Console.Out.WriteLine(JsonSerializer.Serialize(list, CliJson.Default.ListOciState)); return 0; }
            var rows = new List<string[]> { new[] { "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER" } };
            foreach (var s in list) rows.Add([s.Id, s.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), s.Status, s.Bundle, s.Created, s.Owner.Length == 0 ? "root" : s.Owner]);
            var widths = new int[6];
            foreach (var row in rows) for (int i = 0; i < 6; i++) widths[i] = Math.Max(widths[i], row[i].Length);
            foreach (var row in rows)
                Console.Out.WriteLine(string.Join("   ", row.Select((c, i) => i == 5 ? c : c.PadRight(widths[i]))));
            return 0;
        }));
        return cmd;
    }
}
