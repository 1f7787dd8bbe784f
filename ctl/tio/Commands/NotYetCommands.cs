using System.CommandLine;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio logs / tio exec: need the reconciler and the runtime; they say so clearly.</summary>
internal static class NotYetCommands
{
    public static Command Logs()
    {
        var app = new Argument<string>("NAME") { Description = "The app" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new lines" };
        var cmd = new Command("logs", "Print an app's output (not yet: needs the runtime)") { app, follow };
        Common.Run(cmd, (pr, _) => throw new CtlException($"logs of {pr.GetValue(app)}: not yet: containers are not started until the node's reconciler uses the runtime"));
        return cmd;
    }

    public static Command Exec()
    {
        var app = new Argument<string>("NAME") { Description = "The app" };
        var command = new Argument<string[]>("COMMAND") { Description = "Command to run", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("exec", "Run a command in an app's container (not yet: needs the runtime)") { app, command };
        Common.Run(cmd, (pr, _) => throw new CtlException($"exec in {pr.GetValue(app)}: not yet: containers are not started until the node's reconciler uses the runtime"));
        return cmd;
    }
}
