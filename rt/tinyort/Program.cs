using System.CommandLine;
using Tinyo.Rt.Cli.Commands;

// tinyort: the Tinyo container runtime. Verbs live in Commands/, one file per verb; this file only wires them.
if (InitCommand.Matches(args)) return InitCommand.Run(args); // hidden: a container's init, before any parsing

var root = new RootCommand("tinyort — the Tinyo container runtime: pull images, run containers, OCI runtime CLI.");
var rootDir = new Option<string?>("--root") { Description = "Runtime root (default $TINYO_ROOT or /var/lib/tinyo); OCI state is in ROOT/containers", Recursive = true };
root.Options.Add(rootDir);
OciCommon.AddRuncGlobals(root);
foreach (var verb in new[] { CreateCommand.Build(rootDir), StartCommand.Build(rootDir), StateCommand.Build(rootDir),
             KillCommand.Build(rootDir), DeleteCommand.Build(rootDir), RunCommand.Build(rootDir), ListCommand.Build(rootDir), SpecCommand.Build() })
    root.Subcommands.Add(verb);
return root.Parse(args).Invoke();
