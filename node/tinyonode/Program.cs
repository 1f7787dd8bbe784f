using System.CommandLine;
using Tinyo.Node.Cli.Commands;

// tinyonode — the Tinyo node daemon: API, users, secrets, reconciles desired state onto the runtime.
var root = new RootCommand("tinyonode — the Tinyo node daemon: API, users, secrets, reconciles desired state onto the runtime.")
{
    ServeCommand.Create(),
    VersionCommand.Create(),
};
return root.Parse(args).Invoke();
