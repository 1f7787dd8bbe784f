using System.CommandLine;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort start ID</c>: runs the process of a created container.</summary>
internal static class StartCommand
{
    public static Command Build(Option<string?> root)
    {
        var id = OciCommon.IdArgument();
        var cmd = new Command("start", "Start the process of a created container") { id };
        cmd.SetAction(r => OciCommon.Guard(r, () =>
        {
            OciCommon.Runtime(r, root).Start(r.GetValue(id)!);
            return 0;
        }));
        return cmd;
    }
}
