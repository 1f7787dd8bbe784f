using System.CommandLine;
using System.Runtime.InteropServices;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Images;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>
/// <c>tinyort run [OPTIONS] IMAGE [CMD...]</c>: docker's run over the image store. The image config's Entrypoint,
/// Cmd, Env, WorkingDir and User are merged with the options as docker does; a missing image is pulled first unless
/// <c>--pull never</c>. Foreground: stdio attached, signals forwarded, exit code propagated (an OOM kill is reported).
/// <c>-d</c>: prints the id and returns; output goes to the container's log (<c>tinyort logs</c>).
/// </summary>
internal static class RunImageCommand
{
    // Options of the image run (and runc's run) that take a value: needed to find IMAGE before parsing, since the
    // command after it belongs to the container, dashes included (`run busybox ls -l`).
    private static readonly HashSet<string> ValueOptions =
    [
        "--name", "-e", "--env", "-v", "--volume", "--memory", "-m", "--cpus", "--pids", "--pids-limit", "--hostname", "-h",
        "-w", "--workdir", "-u", "--user", "--network", "--net", "--entrypoint", "--pull", "--root", "--log", "--log-format",
        "--pid-file", "--console-socket", "--preserve-fds", "--userns",
    ];

    /// <summary>
    /// Finds the <c>run</c> verb and decides: OCI run (a <c>--bundle</c>/<c>-b</c> option before the first positional
    /// argument, as runc and containerd pass it) or image run; for the latter returns the index of IMAGE.
    /// </summary>
    public static (bool IsRun, bool Oci, int Image) Classify(string[] args)
    {
        int i = 0;
        // Global options before the verb.
        while (i < args.Length && args[i].StartsWith('-'))
        {
            if (ValueOptions.Contains(args[i])) i++;
            i++;
        }
        if (i >= args.Length || args[i] != "run") return (false, false, -1);
        for (i++; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "--") return (true, false, i + 1 < args.Length ? i + 1 : -1);
            if (!a.StartsWith('-') || a == "-") return (true, false, i);
            if (a is "--bundle" or "-b" || a.StartsWith("--bundle=", StringComparison.Ordinal)) return (true, true, -1);
            if (ValueOptions.Contains(a)) i++;
        }
        return (true, false, -1);
    }

    public static Command Create(string[] containerCommand)
    {
        var image = new Argument<string>("IMAGE") { Description = "Image name or id" };
        var rm = new Option<bool>("--rm") { Description = "Remove the container when it exits" };
        var detach = new Option<bool>("--detach", "-d") { Description = "Run in the background, print the id; output goes to its log" };
        var name = new Option<string?>("--name") { Description = "Container name (unique; default generated)" };
        var env = new Option<string[]>("--env", "-e") { Description = "Set an environment variable (KEY=VALUE, or KEY from this environment)", AllowMultipleArgumentsPerToken = false };
        var vol = new Option<string[]>("--volume", "-v") { Description = "Bind mount SRC:DST[:ro]" };
        var memory = new Option<string?>("--memory", "-m") { Description = "Memory limit, e.g. 64m" };
        var cpus = new Option<string?>("--cpus") { Description = "CPU limit, e.g. 0.5" };
        var pids = new Option<long?>("--pids", "--pids-limit") { Description = "Maximum number of processes" };
        var hostname = new Option<string?>("--hostname", "-h") { Description = "Container hostname (default: the id)" };
        var workdir = new Option<string?>("--workdir", "-w") { Description = "Working directory inside the container" };
        var user = new Option<string?>("--user", "-u") { Description = "USER[:GROUP], names or numbers from the image's /etc/passwd and /etc/group" };
        var network = new Option<string>("--network", "--net") { Description = "none (own namespace, loopback only) or host", DefaultValueFactory = _ => "none" };
        var entrypoint = new Option<string?>("--entrypoint") { Description = "Override the image's entrypoint" };
        var pull = new Option<string>("--pull") { Description = "missing (default) or never", DefaultValueFactory = _ => "missing" };
        var tty = new Option<bool>("--tty", "-t") { Description = "Give the process a pseudo-terminal (foreground only)" };
        var interactive = new Option<bool>("--interactive", "-i") { Description = "Accepted for docker compatibility: stdin is always attached in the foreground" };
        var userns = new Option<string?>("--userns") { Description = "HOSTUID:COUNT: a user namespace mapping container ids 0..COUNT-1 to host ids HOSTUID.. (root inside is unprivileged outside)" };
        var merge = new Option<bool>("--memory-merge") { Description = "Opt the process into kernel same-page merging (KSM, Linux 6.4 or later)" };
        var cmd = new Command("run", "Run a command in a new container from an image (with --bundle: the OCI runtime's run)")
        {
            image, rm, detach, name, env, vol, memory, cpus, pids, hostname, workdir, user, network, entrypoint, pull, tty, interactive, userns, merge,
        };
        cmd.SetAction((pr, ct) => Cli.Run(async () =>
        {
            var o = new RunOptions
            {
                Image = pr.GetValue(image)!, Command = [.. containerCommand], Entrypoint = pr.GetValue(entrypoint),
                Name = pr.GetValue(name), Env = [.. pr.GetValue(env) ?? []], Volumes = [.. (pr.GetValue(vol) ?? []).Select(BindMount.Parse)],
                Pids = pr.GetValue(pids), Hostname = pr.GetValue(hostname), WorkingDir = pr.GetValue(workdir),
                User = pr.GetValue(user), Network = pr.GetValue(network)!, Detach = pr.GetValue(detach), Remove = pr.GetValue(rm),
                Tty = pr.GetValue(tty), MemoryMerge = pr.GetValue(merge),
            };
            if (pr.GetValue(memory) is { } m) o.Memory = RunOptions.ParseMemory(m);
            if (pr.GetValue(cpus) is { } c) o.Cpus = RunOptions.ParseCpus(c);
            if (pr.GetValue(userns) is { } un) o.UserNs = RunOptions.ParseUserNs(un);
            if (o.Name is { } n) ContainerNames.Validate(n);
            var policy = pr.GetValue(pull);
            if (policy is not ("missing" or "never")) throw new RtException($"invalid --pull \"{policy}\": missing or never");

            var root = Cli.ResolveRoot(pr);
            // The one find-or-pull (docker.io through TINYO_REGISTRY_MIRRORS first, as tinyonode does).
            var images = new ImageSource(new ImageStore(root), ImageSource.MirrorsFromEnvironment(), offline: false,
                m => Console.Error.WriteLine("tinyort: " + m)) { PullTimeout = Timeout.InfiniteTimeSpan };
            var img = await images.GetAsync(o.Image, policy == "missing", ct).ConfigureAwait(false);
            var ro = ContainerCli.Options();
            Processes.TerminalProxy? proxy = null;
            if (o.Tty) ro.OnTerminal = m => proxy = Processes.TerminalProxy.Start(m);
            var ic = new ImageContainers(root, ro);
            var started = ic.Run(o, img);
            if (started.Launched is not { } launched)
            {
                // Detached: its process is our child until we exit; the root's exit monitor records how it ends.
                ic.Runtime.WatchExit(started.Id);
                Console.Out.WriteLine(started.Id);
                return 0;
            }
            var regs = new List<PosixSignalRegistration>();
            foreach (var s in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
                regs.Add(PosixSignalRegistration.Create(s, ctx =>
                {
                    ctx.Cancel = true;
                    launched.Signal(ctx.Signal switch { PosixSignal.SIGINT => 2, PosixSignal.SIGTERM => 15, PosixSignal.SIGHUP => 1, _ => 3 });
                }));
            try
            {
                var st = launched.Wait(remove: false);
                proxy?.Finish();
                if (st.OomKilled) Console.Error.WriteLine($"tinyort: container {started.Name} was OOM-killed (memory limit reached)");
                if (o.Remove) ic.Remove(started.Id, force: true);
                return st.Code;
            }
            finally
            {
                foreach (var g in regs) g.Dispose();
                proxy?.Dispose();
            }
        }));
        return cmd;
    }
}
