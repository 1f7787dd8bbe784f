using System.CommandLine;

namespace Tinyo.Node.Cli.Commands;

/// <summary>tinyonode version.</summary>
internal static class VersionCommand
{
    public static Command Create()
    {
        var cmd = new Command("version", "Print the version");
        cmd.SetAction(_ => Console.WriteLine($"tinyonode {Api.NodeApi.Version} (api {Api.NodeApi.ApiVersion})"));
        return cmd;
    }
}
