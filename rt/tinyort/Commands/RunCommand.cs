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
            return Execute(rt, r.GetValue(id)!, r.GetValue(bundle)!, r.GetValue(pidFile), r.GetValue(detach), () => proxy);
        }));
        return cmd;
    }

    /// <summary>
    /// The hand-parsed fast path for the one shape engines and benchmarks use,
    /// <c>[--root R] run --bundle|-b B [--pid-file F] [--detach|-d] ID</c>: building System.CommandLine's tree costs
    /// ≈ 0.4 ms of a start. Anything else (other options, <c>--help</c>, <c>--log</c>, a different order that the
    /// full parser would read differently) returns false and goes through the full parser.
    /// </summary>
    public static bool TryFast(string[] args, out int code)
    {
        code = 0;
        int i = 0;
        string? root = null, bundle = null, pidFile = null, cid = null;
        bool detach = false;
        if (args.Length > 1 && args[0] == "--root") { root = args[1]; i = 2; }
        if (root is { Length: 0 } || root?[0] == '-') return false;
        if (i >= args.Length || args[i] != "run") return false;
        for (i++; i < args.Length; i++)
        {
            var a = args[i];
            if (a is "--bundle" or "-b" && bundle is null && cid is null && i + 1 < args.Length) bundle = args[++i];
            else if (a == "--pid-file" && pidFile is null && i + 1 < args.Length) pidFile = args[++i];
            else if (a is "--detach" or "-d") detach = true;
            else if (bundle is not null && cid is null && a.Length > 0 && a[0] != '-') cid = a;
            else return false;
        }
        if (bundle is null || cid is null || bundle.Length == 0 || bundle[0] == '-' || pidFile is { Length: 0 }) return false;
        Processes.TerminalProxy? proxy = null;
        // Same as the full parser: a foreground run with process.terminal proxies its own stdio through the pty.
        var rt = detach ? OciCommon.Runtime(root) : OciCommon.Runtime(root, o => o.OnTerminal = m => proxy = Processes.TerminalProxy.Start(m));
        try { code = Execute(rt, cid, bundle, pidFile, detach, () => proxy); }
        catch (Exception e) when (e is RtException or IOException)
        {
            Console.Error.WriteLine("tinyort: " + e.Message);
            code = 1;
        }
        return true;
    }

    private static int Execute(ContainerRuntime rt, string cid, string bundle, string? pidFile, bool detach, Func<Processes.TerminalProxy?>? proxy = null)
    {
        if (detach)
        {
            // Started at once (no exec FIFO to wait on), so it can take the direct start; nobody waits for it here.
            var d = rt.Launch(cid, bundle, detached: false);
            if (pidFile is not null) CreateCommand.WritePidFile(pidFile, d.Pid);
            // The root's exit monitor records its exit once we are gone, unless the caller watches it (an engine).
            if (!CreateCommand.EngineWatches(pidFile)) rt.WatchExit(d);
            return 0;
        }
        var c = rt.Launch(cid, bundle, detached: false);
        if (pidFile is not null) CreateCommand.WritePidFile(pidFile, c.Pid);
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
            proxy?.Invoke()?.Finish();
            if (st.OomKilled) Console.Error.WriteLine($"tinyort: container {cid} was OOM-killed (memory limit reached)");
            return st.Code;
        }
        finally
        {
            foreach (var g in regs) g.Dispose();
            proxy?.Invoke()?.Dispose();
        }
    }
}
