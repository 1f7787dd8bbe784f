using System.CommandLine;
using Tinyo.Api.Statefile;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio + FILE (apply): validates the statefile here, then stores its desired state on the node (which validates again).</summary>
internal static class ApplyCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "Statefile (YAML; several containers as documents); - for stdin" };
        var cmd = new Command("+", "Apply a statefile: create or update its containers") { file };
        cmd.Aliases.Add("apply");
        Common.Run(cmd, async (pr, ct) =>
        {
            var path = pr.GetValue(file)!;
            string text, name;
            string? baseDir = null;
            // Read once, at most the size limit + 1 byte (stdin or /dev/zero may never end), then checked here: local
            // errors need no node and name the user's path. The node parses the same text again.
            if (path == "-")
            {
                name = "stdin.yml";
                await using var stdin = Console.OpenStandardInput();
                text = Statefile.ReadCapped(stdin, name);
                baseDir = Environment.CurrentDirectory;
                Statefile.Parse(text, name, baseDir);
            }
            else
            {
                text = Statefile.ReadFile(path);
                name = Path.GetFileName(path);
                baseDir = Path.GetDirectoryName(Path.GetFullPath(path));
                Statefile.Parse(text, path, baseDir);
            }
            var results = await Common.Client(pr).ApplyAsync(name, text, baseDir, ct);
            foreach (var r in results)
                Console.WriteLine($"{r.Name}: {(r.Action == "unchanged" ? r.Action : Common.Green(r.Action))}");
            return Exit.Ok;
        });
        return cmd;
    }
}
