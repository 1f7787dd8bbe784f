using System.CommandLine;
using System.Text.Json;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort state ID</c>: prints the OCI state as JSON, as runc does.</summary>
internal static class StateCommand
{
    public static Command Build(Option<string?> root)
    {
        var id = OciCommon.IdArgument();
        var cmd = new Command("state", "Print the OCI state of a container as JSON") { id };
        cmd.SetAction(r => OciCommon.Guard(r, () =>
        {
            var s = OciCommon.Runtime(r, root).State(r.GetValue(id)!);
            Console.Out.WriteLine(JsonSerializer.Serialize(s, CliJson.Default.OciState));
            return 0;
        }));
        return cmd;
    }
}
