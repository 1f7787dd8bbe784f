using System.CommandLine;
using Tinyo.Node.Cli.Commands;

// tinyonode — the Tinyo node daemon: API, users, secrets, reconciles desired state onto the runtime.
// The hidden `init FD` verb is a container's init (the same code as `tinyort init`): the node starts its containers
// from its own binary, so it needs no tinyort beside it. Dispatched before parsing: init must start minimal.
if (Tinyo.Rt.Containers.ContainerInit.TryRunVerb(args, out var initCode)) return initCode; // hidden: a container's init
var root = new RootCommand("tinyonode — the Tinyo node daemon: API, users, secrets, reconciles desired state onto the runtime.")
{
    ServeCommand.Create(),
    CleanCommand.Create(),
    VersionCommand.Create(),
    RestoreCommand.Create(),
};
// No ProcessTerminationTimeout: serve handles SIGTERM/SIGINT itself and needs longer than System.CommandLine's
// default 2 s to stop its containers cleanly (that default ended the process mid-shutdown).
return root.Parse(args).Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null });
