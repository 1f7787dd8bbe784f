using System.CommandLine;
using Tinyo.Rt.Cli.Commands;

// tinyort: the Tinyo container runtime. Verbs live in Commands/, one file per verb; this file only wires them.
if (InitCommand.Matches(args)) return InitCommand.Run(args); // hidden: a container's init, before any parsing

var root = new RootCommand("tinyort — the Tinyo container runtime: pull images, run containers, OCI runtime CLI.");
var rootDir = Cli.Root; // one --root for the image verbs and the OCI verbs
root.Options.Add(rootDir);
OciCommon.AddRuncGlobals(root);
foreach (var verb in new[] { CreateCommand.Build(rootDir), StartCommand.Build(rootDir), StateCommand.Build(rootDir),
             KillCommand.Build(rootDir), DeleteCommand.Build(rootDir), RunCommand.Build(rootDir), ListCommand.Build(rootDir), SpecCommand.Build() })
    root.Subcommands.Add(verb);
root.Subcommands.Add(PullCommand.Create());
root.Subcommands.Add(ImagesCommand.Create());
root.Subcommands.Add(InspectCommand.Create());
root.Subcommands.Add(RmiCommand.Create());
root.Subcommands.Add(GcCommand.Create());
root.Subcommands.Add(LoadCommand.Create());
return await root.Parse(args).InvokeAsync();
