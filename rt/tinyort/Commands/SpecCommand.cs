using System.CommandLine;
using System.Text.Json;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort spec [--bundle DIR] [-- ARGS…]</c>: writes a default config.json (Docker's security defaults).</summary>
internal static class SpecCommand
{
    public static Command Build()
    {
        var bundle = new Option<string>("--bundle", "-b") { Description = "Bundle directory (default: current directory)", DefaultValueFactory = _ => "." };
        var args = new Argument<string[]>("args") { Description = "The process (default: sh)", Arity = ArgumentArity.ZeroOrMore };
        var cmd = new Command("spec", "Write a default config.json into a bundle directory") { bundle, args };
        cmd.SetAction(r => OciCommon.Guard(r, () =>
        {
            var dir = Path.GetFullPath(r.GetValue(bundle)!);
            var path = Path.Combine(dir, "config.json");
            if (File.Exists(path)) throw new RtException($"{path} already exists");
            var a = r.GetValue(args) is { Length: > 0 } given ? given : ["sh"];
            File.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(DefaultSpec.Create(a), CliJson.Default.Spec));
            return 0;
        }));
        return cmd;
    }
}
