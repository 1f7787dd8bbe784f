using System.CommandLine;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort delete [--force] ID</c>: removes a container, its cgroup and its state.</summary>
internal static class DeleteCommand
{
    public static Command Build(Option<string?> root)
    {
        var id = OciCommon.IdArgument();
        var force = new Option<bool>("--force", "-f") { Description = "Kill the container first if it is running" };
        var cmd = new Command("delete", "Delete a container (its process, cgroup and state)") { id, force };
        cmd.SetAction(r => OciCommon.Guard(r, () =>
        {
            OciCommon.Runtime(r, root).Delete(r.GetValue(id)!, r.GetValue(force));
            return 0;
        }));
        return cmd;
    }
}
