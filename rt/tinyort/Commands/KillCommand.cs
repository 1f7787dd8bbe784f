using System.CommandLine;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Processes;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>
/// <c>tinyort kill [--all] ID [SIGNAL]</c> (runc) or <c>tinyort kill [-s SIGNAL] NAME</c> (docker): signals a
/// container's process. The container may be named by id, name or unique id prefix. Default signal: SIGKILL for a
/// container made from an image (as docker), SIGTERM for a bundle container (as runc).
/// </summary>
internal static class KillCommand
{
    public static Command Build(Option<string?> root)
    {
        var id = OciCommon.IdArgument();
        var sig = new Argument<string?>("signal") { Description = "Signal name or number", DefaultValueFactory = _ => null };
        var sigOpt = new Option<string?>("--signal", "-s") { Description = "Signal name or number (docker style)" };
        var all = new Option<bool>("--all", "-a") { Description = "Signal every process in the container's cgroup" };
        var cmd = new Command("kill", "Send a signal to a container's process") { id, sig, sigOpt, all };
        cmd.SetAction(r => OciCommon.Guard(r, () =>
        {
            var rootDir = RuntimeRoot.Resolve(r.GetValue(root));
            var cid = ContainerNames.TryResolve(rootDir, r.GetValue(id)!) ?? r.GetValue(id)!;
            var image = File.Exists(Path.Combine(rootDir.Containers, cid, "image.json"));
            var s = r.GetValue(sigOpt) ?? r.GetValue(sig) ?? (image ? "SIGKILL" : "SIGTERM");
            OciCommon.Runtime(r, root).Kill(cid, Signals.Parse(s), r.GetValue(all));
            return 0;
        }));
        return cmd;
    }
}
