using System.CommandLine;
using Tinyo.Rt.Processes;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort kill [--all] ID [SIGNAL]</c>: signals a container's process (default SIGTERM).</summary>
internal static class KillCommand
{
    public static Command Build(Option<string?> root)
    {
        var id = OciCommon.IdArgument();
        var sig = new Argument<string>("signal") { Description = "Signal name or number", DefaultValueFactory = _ => "SIGTERM" };
        var all = new Option<bool>("--all", "-a") { Description = "Signal every process in the container's cgroup" };
        var cmd = new Command("kill", "Send a signal to a container's process") { id, sig, all };
        cmd.SetAction(r => OciCommon.Guard(r, () =>
        {
            OciCommon.Runtime(r, root).Kill(r.GetValue(id)!, Signals.Parse(r.GetValue(sig)!), r.GetValue(all));
            return 0;
        }));
        return cmd;
    }
}
