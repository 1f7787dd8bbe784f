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
    private static readonly HashSet<string> ValueOptions =
    [
        "-e", "--env", "-w", "--workdir", "--cwd", "-u", "--user", "--root", "--log", "--log-format",
        // runc's exec (conmon, containerd): `exec --process FILE --pid-file F [--detach] [--console-socket S] ID`.
        "-p", "--process", "--pid-file", "--console-socket", "--preserve-fds", "--process-label", "--apparmor", "--cap", "-c", "--cgroup",
    ];

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
        workdir.Aliases.Add("--cwd");
        var process = new Option<string?>("--process", "-p") { Description = "runc: a JSON file with the OCI process to run (args, env, cwd, user, terminal)" };
        var pidFile = new Option<string?>("--pid-file") { Description = "runc: write the process's host pid to this file" };
        var detach = new Option<bool>("--detach", "-d") { Description = "runc: start the process and return (its parent becomes the nearest subreaper)" };
        var console = new Option<string?>("--console-socket") { Description = "runc: unix socket that receives the pty master of a terminal process" };
        var ignored = new Option<string[]>("--preserve-fds", "--process-label", "--apparmor", "--cap", "--cgroup")
        { Description = "runc options accepted and ignored", Hidden = true };
        var noNewPrivs = new Option<bool>("--no-new-privs") { Hidden = true, Description = "runc: accepted (the container's setting applies)" };
        var cmd = new Command("exec", "Run a command in a running container")
        { name, env, workdir, user, tty, interactive, process, pidFile, detach, console, ignored, noNewPrivs };
        cmd.SetAction((pr, ct) => Cli.Run(() =>
        {
            var root = Cli.ResolveRoot(pr);
            string id;
            try { id = ContainerNames.Resolve(root, pr.GetValue(name)!); }
            catch (RtException e) { OciCommon.AppendLog(pr, e.Message); throw; }
            Processes.TerminalProxy? proxy = null;
            var o = new ExecOptions
            {
                Command = [.. command], Env = [.. pr.GetValue(env) ?? []], WorkingDir = pr.GetValue(workdir), User = pr.GetValue(user),
                Tty = pr.GetValue(tty), OnTerminal = m => proxy = Processes.TerminalProxy.Start(m),
            };
            int pid;
            try
            {
                if (pr.GetValue(process) is { } pf) ExecProcessFile.Apply(o, pf, command.Length > 0);
                o.ConsoleSocket = pr.GetValue(console);
                pid = Exec.Start(root, id, o);
            }
            catch (RtException e)
            {
                OciCommon.AppendLog(pr, e.Message); // containerd's shim reads the error from --log
                throw;
            }
            if (pr.GetValue(pidFile) is { } pidPath) CreateCommand.WritePidFile(pidPath, pid);
            if (pr.GetValue(detach)) return Task.FromResult(0);
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
