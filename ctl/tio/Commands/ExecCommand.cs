using System.CommandLine;
using Tinyo.Api;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>
/// tio exec NAME [-r N] [-e K=V] -- CMD...: runs a command in an app's container (non-interactive: no stdin, no
/// TTY); its stdout and stderr are printed as they come and tio exits with the command's exit code.
/// </summary>
internal static class ExecCommand
{
    public static Command Create()
    {
        var app = new Argument<string>("NAME") { Description = "The app" };
        var command = new Argument<string[]>("COMMAND") { Description = "Command and arguments (put them after --)", Arity = ArgumentArity.OneOrMore };
        var replica = new Option<int>("--replica", "-r") { Description = "Which replica (1-based)", DefaultValueFactory = _ => 1 };
        var env = new Option<string[]>("--env", "-e") { Description = "Extra environment variable KEY=VALUE (repeatable)" };
        var interactive = new Option<bool>("--interactive", "-i") { Description = "Attach stdin (not yet)" };
        var tty = new Option<bool>("--tty", "-t") { Description = "Allocate a terminal (not yet)" };
        var cmd = new Command("exec", "Run a command in an app's container; exits with the command's exit code") { app, command, replica, env, interactive, tty };
        Common.Run(cmd, async (pr, ct) =>
        {
            if (pr.GetValue(interactive) || pr.GetValue(tty))
                throw new UsageException("exec -i/-t: not yet: exec is non-interactive for now (no stdin, no terminal)");
            if (pr.GetValue(replica) < 1) throw new UsageException("--replica counts from 1");
            Dictionary<string, string>? vars = null;
            foreach (var e in pr.GetValue(env) ?? [])
            {
                int eq = e.IndexOf('=');
                if (eq <= 0) throw new UsageException($"invalid --env '{e}': expected KEY=VALUE");
                (vars ??= [])[e[..eq]] = e[(eq + 1)..];
            }
            var request = new ExecRequest([.. pr.GetValue(command)!], pr.GetValue(replica), vars);
            return await Common.Client(pr).ExecAsync(pr.GetValue(app)!, request, Console.OpenStandardOutput(), Console.OpenStandardError(), ct);
        });
        return cmd;
    }
}
