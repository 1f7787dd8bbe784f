using System.CommandLine;
using Tinyo.Rt.Cli.Commands;

// tinyort: the Tinyo container runtime. Verbs live in Commands/, one file per verb; this file only wires them.
if (Tinyo.Rt.Containers.ContainerInit.TryRunVerb(args, out var initCode)) return initCode; // hidden: a container's init, before any parsing
if (RunCommand.TryFast(args, out var fastCode)) return fastCode; // `run --bundle B ID`, hand-parsed (hot path)

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
// `run` is the OCI runtime's when a --bundle is given (runc, containerd), else docker's run over images: the
// container's command after IMAGE is cut off before parsing, so its dashes are not taken for our options.
var run = RunImageCommand.Classify(args);
string[] parsed = args;
Command runVerb;
if (run.IsRun && run.Oci) runVerb = RunCommand.Build(Cli.Root);
else
{
    runVerb = RunImageCommand.Create(run.Image >= 0 ? args[(run.Image + 1)..] : []);
    if (run.Image >= 0) parsed = args[..(run.Image + 1)];
}
foreach (var verb in new[] { CreateCommand.Build(Cli.Root), StartCommand.Build(Cli.Root), StateCommand.Build(Cli.Root),
             KillCommand.Build(Cli.Root), DeleteCommand.Build(Cli.Root), runVerb, ListCommand.Build(Cli.Root), SpecCommand.Build(),
             FeaturesCommand.Build(), PauseCommand.Build(Cli.Root), PauseCommand.BuildResume(Cli.Root), UpdateCommand.Build(Cli.Root),
             EventsCommand.Build(Cli.Root) })
    root.Subcommands.Add(verb);
// Containers from images (docker-like).
// `ps` is docker's listing, or runc's `ps [--format json] ID` (containerd's shim, for docker top) when it names a container.
root.Subcommands.Add(RuncPsCommand.Matches(args) ? RuncPsCommand.Build(Cli.Root) : PsCommand.Create());
root.Subcommands.Add(LogsCommand.Create());
root.Subcommands.Add(StopCommand.Create());
root.Subcommands.Add(RmCommand.Create());
int execAt = ExecCommand.ContainerIndex(args);
// exec enters a container from this very process: run it from a sealed copy of the binary (CVE-2019-5736).
if (execAt >= 0) Tinyo.Rt.Processes.SealedReexec.IfNeeded(args);
root.Subcommands.Add(ExecCommand.Create(execAt >= 0 ? args[(execAt + 1)..] : []));
if (execAt >= 0) parsed = args[..(execAt + 1)];
return await root.Parse(parsed).InvokeAsync();
