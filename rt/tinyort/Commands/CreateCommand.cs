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
            if (r.GetValue(pidFile) is { } f) WritePidFile(f, pid);
            rt.WatchExit(cid); // init is our child until we exit: the root's exit monitor records how it ends
            return 0;
        }));
        return cmd;
    }

    /// <summary>Writes the pid atomically (containerd reads it as soon as the command exits).</summary>
    internal static void WritePidFile(string path, int pid)
    {
        var full = Path.GetFullPath(path);
        var tmp = full + ".tmp";
        File.WriteAllText(tmp, pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        File.Move(tmp, full, overwrite: true);
    }
}
