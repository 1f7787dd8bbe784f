using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>
/// <c>tinyort state ID</c>: prints the OCI state as JSON, as runc does. A stopped container whose exit was recorded
/// (by its waiting parent, the root's exit monitor or tinyonode) also shows <c>exitCode</c>, <c>exitSignal</c> and
/// <c>oomKilled</c> — fields the spec does not define, which runc's readers ignore.
/// </summary>
internal static class StateCommand
{
    public static Command Build(Option<string?> root)
    {
        var id = OciCommon.IdArgument();
        var cmd = new Command("state", "Print the OCI state of a container as JSON") { id };
        cmd.SetAction(r => OciCommon.Guard(r, () =>
        {
            var rt = OciCommon.Runtime(r, root);
            var cid = r.GetValue(id)!;
            var s = rt.State(cid);
            if (s.Status == "stopped" && rt.ExitOf(cid) is { } exit)
            {
                var node = JsonSerializer.SerializeToNode(s, CliJson.Default.OciState)!.AsObject();
                node["exitCode"] = exit.Code;
                node["exitSignal"] = exit.Signal;
                node["oomKilled"] = exit.OomKilled;
                Console.Out.WriteLine(node.ToJsonString(CliJson.Default.Options));
            }
            else Console.Out.WriteLine(JsonSerializer.Serialize(s, CliJson.Default.OciState));
            return 0;
        }));
        return cmd;
    }
}
