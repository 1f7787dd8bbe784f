using System.CommandLine;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort pause ID</c> / <c>tinyort resume ID</c> (runc): freeze and thaw every process of a container
/// through its freezer cgroup (<c>docker pause</c>/<c>unpause</c> via containerd's shim).</summary>
internal static class PauseCommand
{
    public static Command Build(Option<string?> root) => Verb(root, "pause", "Suspend every process of a container (freezer cgroup)", ContainerControl.Pause);

    public static Command BuildResume(Option<string?> root) => Verb(root, "resume", "Resume a paused container", ContainerControl.Resume);

    private static Command Verb(Option<string?> root, string name, string description, Action<RuntimeRoot, string> act)
    {
        var id = OciCommon.IdArgument();
        var cmd = new Command(name, description) { id };
        cmd.SetAction(r => OciCommon.Guard(r, () =>
        {
            act(RuntimeRoot.Resolve(r.GetValue(root)), r.GetValue(id)!);
            return 0;
        }));
        return cmd;
    }
}
