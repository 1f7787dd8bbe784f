using System.CommandLine;
using Tinyo.Api.Statefile;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio - NAME|FILE (rm): removes apps by name, or every app a statefile defines.</summary>
internal static class RemoveCommand
{
    public static Command Create()
    {
        var target = new Argument<string[]>("NAME|FILE") { Description = "App names or statefiles", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("-", "Remove apps (by name, or all apps of a statefile)") { target };
        cmd.Aliases.Add("rm");
        Common.Run(cmd, async (pr, ct) =>
        {
            var names = new List<string>();
            foreach (var t in pr.GetValue(target)!)
            {
                if (File.Exists(t) || t.EndsWith(".yml", StringComparison.Ordinal) || t.EndsWith(".yaml", StringComparison.Ordinal))
                    names.AddRange(Statefile.Load(t).Select(s => s.Name));
                else names.Add(t);
            }
            var client = Common.Client(pr);
            foreach (var n in names)
            {
                await client.AppRemoveAsync(n, ct);
                Console.WriteLine($"{n}: removed");
            }
            return Exit.Ok;
        });
        return cmd;
    }
}
