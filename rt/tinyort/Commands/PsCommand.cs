using System.CommandLine;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort ps [-a]</c>: running containers (with <c>-a</c> all), as docker lists them.</summary>
internal static class PsCommand
{
    public static Command Create()
    {
        var all = new Option<bool>("--all", "-a") { Description = "Show all containers (default: running ones)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only ids" };
        var output = Cli.Output();
        var cmd = new Command("ps", "List containers") { all, quiet, output };
        cmd.SetAction((pr, ct) => Cli.Run(() =>
        {
            var list = ContainerCli.Containers(pr).List();
            if (!pr.GetValue(all)) list.RemoveAll(c => c.Status != "running");
            if (pr.GetValue(output) == "json") { Console.Out.WriteLine(ImageContainers.ToJson(list)); return Task.FromResult(0); }
            if (pr.GetValue(quiet)) { foreach (var c in list) Console.Out.WriteLine(c.Id); return Task.FromResult(0); }
            var rows = new List<string[]> { new[] { "CONTAINER ID", "NAME", "IMAGE", "COMMAND", "STATUS", "CREATED" } };
            foreach (var c in list)
            {
                var command = string.Join(' ', c.Command);
                if (command.Length > 30) command = command[..29] + "…";
                var status = c.Status switch
                {
                    "running" => "Up",
                    "created" => "Created",
                    _ => c.ExitCode is { } code ? $"Exited ({code}){(c.OomKilled == true ? " OOM" : "")}" : "Exited",
                };
                rows.Add([c.Id.Length > 12 ? c.Id[..12] : c.Id, c.Name, c.Image, "\"" + command + "\"", status, ImageContainers.Ago(c.Created)]);
            }
            var widths = new int[6];
            foreach (var r in rows) for (int i = 0; i < 6; i++) widths[i] = Math.Max(widths[i], r[i].Length);
            foreach (var r in rows)
            {
                var sb = new System.Text.StringBuilder();
                for (int i = 0; i < 6; i++) sb.Append(i < 5 ? r[i].PadRight(widths[i] + 3) : r[i]);
                Console.Out.WriteLine(sb.ToString());
            }
            return Task.FromResult(0);
        }));
        return cmd;
    }
}
