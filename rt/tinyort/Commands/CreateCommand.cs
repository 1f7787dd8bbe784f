using System.CommandLine;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort create --bundle DIR [--pid-file F] [--console-socket S] ID</c>: creates a container that waits
/// for <c>start</c>; with <c>process.terminal</c> its pty master is sent to the console socket (runc's protocol).</summary>
internal static class CreateCommand
{
    public static Command Build(Option<string?> root)
    {
        var id = OciCommon.IdArgument();
        var bundle = new Option<string>("--bundle", "-b") { Description = "Bundle directory (default: current directory)", DefaultValueFactory = _ => "." };
        var pidFile = new Option<string?>("--pid-file") { Description = "Write the container's host pid to this file" };
        var console = new Option<string?>("--console-socket") { Description = "Unix socket that receives the pty master (SCM_RIGHTS) when process.terminal is true" };
        var cmd = new Command("create", "Create a container from an OCI bundle; it waits for `start`") { id, bundle, pidFile, console };
        var preserve = OciCommon.AddRuncCreateFlags(cmd);
        cmd.SetAction(r => OciCommon.Guard(r, () =>
        {
            OciCommon.CheckPreserveFds(r, preserve);
            var rt = OciCommon.Runtime(r, root, o => o.ConsoleSocket = r.GetValue(console));
            var cid = r.GetValue(id)!;
            int pid = rt.Create(cid, r.GetValue(bundle)!);
            var f = r.GetValue(pidFile);
            if (f is not null) WritePidFile(f, pid);
            // init is our child until we exit: the root's exit monitor records how it ends — unless an engine asked
            // for the pid, which means it watches (and, as its shim is the subreaper, reaps) the process itself.
            if (!EngineWatches(f)) rt.WatchExit(cid);
            return 0;
        }));
        return cmd;
    }

    /// <summary>
    /// Whether the caller takes charge of the container's process: every engine (containerd's runc shim, podman's
    /// conmon, CRI-O) passes <c>--pid-file</c> and, as the subreaper, reaps the process and records its exit itself, so
    /// an exit monitor would only linger beside it. <c>TINYO_EXIT_MONITOR=1</c> starts one anyway.
    /// </summary>
    internal static bool EngineWatches(string? pidFile) =>
        pidFile is not null && Environment.GetEnvironmentVariable("TINYO_EXIT_MONITOR") != "1";

    /// <summary>Writes the pid atomically (containerd reads it as soon as the command exits).</summary>
    internal static void WritePidFile(string path, int pid)
    {
        var full = Path.GetFullPath(path);
        var tmp = full + ".tmp";
        File.WriteAllText(tmp, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        File.Move(tmp, full, overwrite: true);
    }
}
