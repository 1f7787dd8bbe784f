using System.CommandLine;
using System.Text.Json;
using Tinyo.Rt.Images;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort inspect REF</c>: print a stored image's metadata and run-time defaults as JSON.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var images = new Argument<string[]>("IMAGE") { Description = "Image name or id", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("inspect", "Show an image's config (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts) as JSON") { images };
        cmd.SetAction((pr, ct) => Cli.Run(() =>
        {
            var store = new ImageStore(Cli.ResolveRoot(pr));
            var result = new List<InspectOutput>();
            foreach (var name in pr.GetValue(images)!)
            {
                var img = store.Load(store.Find(name));
                var c = img.Config.Config;
                List<string>? ports = null;
                if (c?.ExposedPorts is { } ep)
                {
                    ports = [.. ep.Keys];
                    ports.Sort(StringComparer.Ordinal);
                }
                result.Add(new InspectOutput
                {
                    Name = img.Record.Name,
                    Id = img.ConfigDigest.ToString(),
                    Digest = img.Record.Digest,
                    Manifest = img.Record.Manifest,
                    Created = img.Config.Created,
                    Os = img.Config.Os,
                    Architecture = img.Config.Architecture,
                    Variant = img.Config.Variant,
                    Size = img.Record.Size,
                    Config = new InspectConfig
                    {
                        Entrypoint = c?.Entrypoint, Cmd = c?.Cmd, Env = c?.Env, WorkingDir = c?.WorkingDir, User = c?.User,
                        ExposedPorts = ports, Labels = c?.Labels, StopSignal = c?.StopSignal,
                    },
                    Layers = img.Config.RootFs!.DiffIds!,
                });
            }
            Console.Out.WriteLine(JsonSerializer.Serialize(result, ImageJson.Default.ListInspectOutput));
            return Task.FromResult(0);
        }));
        return cmd;
    }
}
