using System.CommandLine;
using Tinyo.Rt.Cli;
using Tinyo.Rt.Cli.Commands;

// tinyort: the Tinyo container runtime. Verbs live in Commands/, one file per verb; this file only wires them.
if (Tinyo.Rt.Containers.ContainerInit.TryRunVerb(args, out var initCode)) return initCode; // hidden: a container's init, before any parsing
if (RunCommand.TryFast(args, out var fastCode)) return fastCode; // `run --bundle B ID`, hand-parsed (hot path)
if (args is ["--version"])
{
    // What System.CommandLine would print, without building its root (a ResourceManager for the help option's
    // description) or reading the assembly's attributes through reflection: the start-up floor, as a hello world.
    Console.Out.Write(BuildVersion.Informational + "\n");
    return 0;
}

var root = new RootCommand("tinyort — the Tinyo container runtime: pull images, run containers, OCI runtime CLI.");
root.Options.Add(Cli.Root);
OciCommon.AddRuncGlobals(root);
// Only the verb the arguments name is built. System.CommandLine builds every command and option object eagerly, and
// engines call `state`, `create`, `start`, `kill`, `delete` once per container: building all 28 verbs cost ≈ 0.9 ms
// of a 2.9 ms `--version` (perf stat). `--version` alone needs none; without a verb (`--help`) or with an unknown
// one, all are built, so help and "unrecognized command" errors are what they were.
string? verb = VerbArgument.Find(args, root);
bool all = verb is null || !VerbArgument.Known.Contains(verb);
void Add(string name, Func<Command> make)
{
    if (all || name == verb) root.Subcommands.Add(make());
}
// Images.
Add("pull", PullCommand.Create);
Add("images", ImagesCommand.Create);
Add("inspect", InspectCommand.Create);
Add("rmi", RmiCommand.Create);
Add("gc", GcCommand.Create);
Add("load", LoadCommand.Create);
// OCI runtime (runc-compatible).
// `run` is the OCI runtime's when a --bundle is given (runc, containerd), else docker's run over images: the
// container's command after IMAGE is cut off before parsing, so its dashes are not taken for our options.
var run = RunImageCommand.Classify(args);
string[] parsed = args;
Add("create", () => CreateCommand.Build(Cli.Root));
Add("start", () => StartCommand.Build(Cli.Root));
Add("state", () => StateCommand.Build(Cli.Root));
Add("kill", () => KillCommand.Build(Cli.Root));
Add("delete", () => DeleteCommand.Build(Cli.Root));
Add("run", () =>
{
    if (run.IsRun && run.Oci) return RunCommand.Build(Cli.Root);
    if (run.Image >= 0) parsed = args[..(run.Image + 1)];
    return RunImageCommand.Create(run.Image >= 0 ? args[(run.Image + 1)..] : []);
});
Add("list", () => ListCommand.Build(Cli.Root));
Add("spec", SpecCommand.Build);
Add("features", FeaturesCommand.Build);
Add("pause", () => PauseCommand.Build(Cli.Root));
Add("resume", () => PauseCommand.BuildResume(Cli.Root));
Add("update", () => UpdateCommand.Build(Cli.Root));
Add("events", () => EventsCommand.Build(Cli.Root));
// Containers from images (docker-like).
// `ps` is docker's listing, or runc's `ps [--format json] ID` (containerd's shim, for docker top) when it names a container.
Add("ps", () => RuncPsCommand.Matches(args) ? RuncPsCommand.Build(Cli.Root) : PsCommand.Create());
Add("logs", LogsCommand.Create);
Add("stop", StopCommand.Create);
Add("rm", RmCommand.Create);
Add("dup", DupCommand.Create);
Add("exec", () =>
{
    int execAt = ExecCommand.ContainerIndex(args);
    // exec enters a container from this very process: run it from a sealed copy of the binary (CVE-2019-5736).
    if (execAt >= 0) Tinyo.Rt.Processes.SealedReexec.IfNeeded(args);
    if (execAt >= 0) parsed = args[..(execAt + 1)];
    return ExecCommand.Create(execAt >= 0 ? args[(execAt + 1)..] : []);
});
return await root.Parse(parsed).InvokeAsync();
