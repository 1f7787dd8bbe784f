using System.CommandLine;
using System.Text.Json;
using Tinyo.Api;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio ls: the apps with their state.</summary>
internal static class LsCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--output", "-o") { Description = "table or json", DefaultValueFactory = _ => "table" };
        output.AcceptOnlyFromAmong("table", "json");
        var cmd = new Command("ls", "List apps: name, image, state, ports, restarts, age") { output };
        Common.Run(cmd, async (pr, ct) =>
        {
            var apps = await Common.Client(pr).AppsAsync(ct);
            if (pr.GetValue(output) == "json")
            {
                Console.WriteLine(JsonSerializer.Serialize(apps, ApiJson.Default.ListAppInfo));
                return Exit.Ok;
            }
            Common.Table(["NAME", "IMAGE", "STATE", "PORTS", "RESTARTS", "AGE"],
                apps.Select(a => new[] { a.Name, a.Image, StateText(a), string.Join(',', a.Ports), a.Restarts.ToString(), Common.Age(a.Created) }));
            // Problems in full below the table (the column stays narrow): "image not found", "mount source missing"...
            foreach (var a in apps)
                if (a.Error is { } e) Console.WriteLine($"{a.Name}: {e}");
            return Exit.Ok;
        });
        return cmd;
    }

    /// <summary>running (green), error (red), the rest yellow; several replicas show how many run, e.g. "running 2/3".</summary>
    private static string StateText(AppInfo a)
    {
        var text = a.State;
        if (a.Containers is { Count: > 1 } cs) text += $" {cs.Count(c => c.State == "running")}/{a.Replicas}";
        return a.State switch { "running" => Common.Green(text), "error" => Common.Color ? $"\e[31m{text}\e[0m" : text, _ => Common.Yellow(text) };
    }
}
