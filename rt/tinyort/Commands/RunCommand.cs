using System.CommandLine;
using System.Runtime.InteropServices;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>
/// <c>tinyort run --bundle DIR ID</c>: creates and starts a container in the foreground with stdio attached, forwards
/// SIGINT/SIGTERM/SIGHUP/SIGQUIT to it, exits with its exit code and removes it. <c>--detach</c> creates and starts
/// it and returns at once.
/// </summary>
internal static class RunCommand
{
    public static Command Build(Option<string?> root)
    {
        var id = OciCommon.IdArgument();
        var bundle = new Option<string>("--bundle", "-b") { Description = "Bundle directory (default: current directory)", DefaultValueFactory = _ => "." };
        var pidFile = new Option<string?>("--pid-file") { Description = "Write the container's host pid to this file" };
        var detach = new Option<bool>("--detach", "-d") { Description = "Start the container and return without waiting" };
        var console = new Option<string?>("--console-socket") { Description = "Unix socket that receives the pty master when process.terminal is true" };
        var cmd = new Command("run", "Create and start a container, wait for it, exit with its exit code") { id, bundle, pidFile, detach, console };
        var preserve = OciCommon.AddRuncCreateFlags(cmd);
        cmd.SetAction(r => OciCommon.Guard(r, () =>
        {
            OciCommon.CheckPreserveFds(r, preserve);
            Processes.TerminalProxy? proxy = null;
            var socket = r.GetValue(console);
            // Foreground with process.terminal and no console socket: runc proxies its own stdio through the pty.
            var rt = OciCommon.Runtime(r, root, o =>
            {
                o.ConsoleSocket = socket;
                if (socket is null && !r.GetValue(detach)) o.OnTerminal = m => proxy = Processes.TerminalProxy.Start(m);
            });
            var cid = r.GetValue(id)!;
            if (r.GetValue(detach))
            {
                int p = rt.Create(cid, r.GetValue(bundle)!);
                if (r.GetValue(pidFile) is { } pf) CreateCommand.WritePidFile(pf, p);
                rt.Start(cid);
                return 0;
            }
            var c = rt.Launch(cid, r.GetValue(bundle)!, detached: false);
            if (r.GetValue(pidFile) is { } f) CreateCommand.WritePidFile(f, c.Pid);
            var regs = new List<PosixSignalRegistration>();
            foreach (var s in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
                regs.Add(PosixSignalRegistration.Create(s, ctx =>
                {
                    ctx.Cancel = true;
                    int num = ctx.Signal switch { PosixSignal.SIGINT => 2, PosixSignal.SIGTERM => 15, PosixSignal.SIGHUP => 1, _ => 3 };
                    c.Signal(num);
                }));
            try
            {
                var st = c.Wait();
                proxy?.Finish();
                if (st.OomKilled) Console.Error.WriteLine($"tinyort: container {cid} was OOM-killed (memory limit reached)");
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
