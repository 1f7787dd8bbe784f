using System.CommandLine;
using Tinyo.Ctl.Cli.Commands;

// tio — the Tinyo CLI: set up nodes, apply statefiles, manage containers, users and secrets.
var root = new RootCommand("tio — the Tinyo CLI: set up nodes, apply statefiles, manage containers, users and secrets.")
{
    InitCommand.Create(),
    DownCommand.Create(),
    ApplyCommand.Create(),
    RemoveCommand.Create(),
    DupCommand.Create(),
    LsCommand.Create(),
    LogsCommand.Create(),
    StatsCommand.Create(),
    ExecCommand.Create(),
    LoginCommand.Login(),
    LoginCommand.Logout(),
    UserCommand.Create(),
    SecretCommand.Create(),
    NetCommand.Create(),
    NodeCommand.Create(),
    MetricsCommand.Create(),
    StatusCommand.Status(),
    StatusCommand.Version(),
    BackupCommand.Create(),
    RestoreCommand.Create(),
};
root.Options.Add(Common.Host);
root.Options.Add(Common.Socket);
root.Options.Add(Common.Root);
// "--" would end option parsing in System.CommandLine: as the first word it means `down`.
if (args is ["--", .. var rest]) args = ["down", .. rest];
var parsed = root.Parse(args);
// Usage errors (unknown verb or flag, missing argument) print themselves with help; exit 2 as POSIX tools do.
if (parsed.Errors.Count > 0)
{
    parsed.Invoke();
    return 2;
}
return parsed.Invoke();
