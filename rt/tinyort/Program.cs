using System.CommandLine;
using Tinyo.Rt.Cli.Commands;

// tinyort: the Tinyo container runtime. Verbs live in Commands/, one file per verb; this file only wires them.
var root = new RootCommand("tinyort — the Tinyo container runtime: pull images, run containers, OCI runtime CLI.");
root.Options.Add(Cli.Root);
root.Subcommands.Add(PullCommand.Create());
root.Subcommands.Add(ImagesCommand.Create());
root.Subcommands.Add(InspectCommand.Create());
root.Subcommands.Add(RmiCommand.Create());
root.Subcommands.Add(GcCommand.Create());
root.Subcommands.Add(LoadCommand.Create());
return await root.Parse(args).InvokeAsync();
