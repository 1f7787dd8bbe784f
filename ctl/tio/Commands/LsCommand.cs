using System.CommandLine;
using System.Text.Json;
using Tinyo.Ctl.Api;

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
                apps.Select(a => new[] { a.Name, a.Image, a.State == "running" ? Common.Green(a.State) : Common.Yellow(a.State), string.Join(',', a.Ports), a.Restarts.ToString(), Common.Age(a.Created) }));
            return Exit.Ok;
        });
        return cmd;
    }
}
