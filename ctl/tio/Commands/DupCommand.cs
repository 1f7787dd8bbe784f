using System.CommandLine;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>
/// <c>tio dup APP [-n N]</c>: N more replicas of an app, duplicated from one that runs (its files, spec and limits;
/// milliseconds each) — or started from the image when none runs. The app's <c>replicas</c> is raised in the desired
/// state, so the node keeps them; <c>tio ls</c> shows which replica each came from.
/// </summary>
internal static class DupCommand
{
    public static Command Create()
    {
        var app = new Argument<string>("APP") { Description = "The app" };
        var count = new Option<int>("-n", "--count") { Description = "How many more replicas (1 to 1000)", DefaultValueFactory = _ => 1 };
        var cmd = new Command("dup", "Add replicas to an app by duplicating a running one") { app, count };
        Common.Run(cmd, async (pr, ct) =>
        {
            var r = await Common.Client(pr).AppDupAsync(pr.GetValue(app)!, pr.GetValue(count), ct);
            Console.WriteLine(r.From is { } from
                ? $"{r.App}: replicas {r.Before} → {r.Replicas}, duplicating {from}"
                : $"{r.App}: replicas {r.Before} → {r.Replicas}; no replica runs here, so the new ones start from the image");
            return Exit.Ok;
        });
        return cmd;
    }
}
