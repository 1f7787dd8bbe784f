using System.CommandLine;
using Tinyo.Rt.Cli.Commands;

// tinyort: the Tinyo container runtime. Verbs live in Commands/, one file per verb; this file only wires them.
if (InitCommand.Matches(args)) return InitCommand.Run(args); // hidden: a container's init, before any parsing

var root = new RootCommand("tinyort — the Tinyo container runtime: pull images, run containers, OCI runtime CLI.");
root.Options.Add(Cli.Root);
OciCommon.AddRuncGlobals(root);
// Images.
root.Subcommands.Add(PullCommand.Create());
root.Subcommands.Add(ImagesCommand.Create());
root.Subcommands.Add(InspectCommand.Create());
root.Subcommands.Add(RmiCommand.Create());
root.Subcommands.Add(GcCommand.Create());
root.Subcommands.Add(LoadCommand.Create());
// OCI runtime (runc-compatible).
foreach (var verb in new[] { CreateCommand.Build(Cli.Root), StartCommand.Build(Cli.Root), StateCommand.Build(Cli.Root),
             KillCommand.Build(Cli.Root), DeleteCommand.Build(Cli.Root), RunCommand.Build(Cli.Root), ListCommand.Build(Cli.Root), SpecCommand.Build() })
    root.Subcommands.Add(verb);
return await root.Parse(args).InvokeAsync();
