using System.CommandLine;
using System.Runtime.InteropServices;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>
/// <c>tinyort exec [-e K=V] [-w DIR] [-u USER[:GROUP]] [-t] NAME CMD...</c>: runs a command inside a running container (its namespaces,
/// cgroup, user, capabilities, env, cwd), stdio attached, signals forwarded, its exit code returned. See
/// <see cref="Exec"/> for the process model.
/// </summary>
internal static class ExecCommand
{
    private static readonly HashSet<string> ValueOptions = ["-e", "--env", "-w", "--workdir", "-u", "--user", "--root", "--log", "--log-format"];

    /// <summary>Index of the container argument of an <c>exec</c> invocation (the command follows it), or -1.</summary>
    public static int ContainerIndex(string[] args)
    {
        int i = 0;
        while (i < args.Length && args[i].StartsWith('-')) { if (ValueOptions.Contains(args[i])) i++; i++; }
        if (i >= args.Length || args[i] != "exec") return -1;
        for (i++; i < args.Length; i++)
        {
            if (args[i] == "--") return i + 1 < args.Length ? i + 1 : -1;
            if (!args[i].StartsWith('-')) return i;
            if (ValueOptions.Contains(args[i])) i++;
        }
        return -1;
    }

    public static Command Create(string[] command)
    {
        var name = new Argument<string>("CONTAINER") { Description = "Container name or id" };
        var env = new Option<string[]>("--env", "-e") { Description = "Set an environment variable (KEY=VALUE)" };
        var workdir = new Option<string?>("--workdir", "-w") { Description = "Working directory inside the container" };
        var user = new Option<string?>("--user", "-u") { Description = "USER[:GROUP] (names or numbers from the container's /etc/passwd and /etc/group)" };
        var tty = new Option<bool>("--tty", "-t") { Description = "Run the command on a pseudo-terminal" };
        var interactive = new Option<bool>("--interactive", "-i") { Description = "Accepted for docker compatibility: stdin is always attached" };
        var cmd = new Command("exec", "Run a command in a running container") { name, env, workdir, user, tty, interactive };
        cmd.SetAction((pr, ct) => Cli.Run(() =>
        {
            var root = Cli.ResolveRoot(pr);
            var id = ContainerNames.Resolve(root, pr.GetValue(name)!);
            Processes.TerminalProxy? proxy = null;
            int pid = Exec.Start(root, id, new ExecOptions
            {
                Command = [.. command], Env = [.. pr.GetValue(env) ?? []], WorkingDir = pr.GetValue(workdir), User = pr.GetValue(user),
                Tty = pr.GetValue(tty), OnTerminal = m => proxy = Processes.TerminalProxy.Start(m),
            });
            var regs = new List<PosixSignalRegistration>();
            foreach (var s in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
                regs.Add(PosixSignalRegistration.Create(s, ctx =>
                {
                    ctx.Cancel = true;
                    Exec.Signal(pid, ctx.Signal switch { PosixSignal.SIGINT => 2, PosixSignal.SIGTERM => 15, PosixSignal.SIGHUP => 1, _ => 3 });
                }));
            try
            {
                int code = Exec.Wait(pid);
                proxy?.Finish();
                return Task.FromResult(code);
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
