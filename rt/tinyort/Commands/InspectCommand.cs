using System.CommandLine;
using System.Text.Json;
using Tinyo.Rt.Images;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort inspect NAME</c>: print a container (looked up first, as docker) or a stored image's metadata and run-time defaults as JSON.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var images = new Argument<string[]>("IMAGE") { Description = "Image name or id", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("inspect", "Show an image's config (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts) as JSON") { images };
        cmd.SetAction((pr, ct) => Cli.Run(() =>
        {
            var root = Cli.ResolveRoot(pr);
            var store = new ImageStore(root);
            var result = new List<InspectOutput>();
            var containers = new List<Containers.ContainerSummary>();
            foreach (var name in pr.GetValue(images)!)
            {
                // As docker: a container of that name or id first, then an image.
                if (Containers.ContainerNames.TryResolve(root, name) is { } cid)
                {
                    containers.Add(ContainerCli.Containers(pr).Summary(cid));
                    continue;
                }
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
            if (containers.Count > 0 && result.Count > 0) throw new RtException("inspect: give either containers or images, not both");
            if (containers.Count > 0) Console.Out.WriteLine(Containers.ImageContainers.ToJson(containers));
            else Console.Out.WriteLine(JsonSerializer.Serialize(result, ImageJson.Default.ListInspectOutput));
            return Task.FromResult(0);
        }));
        return cmd;
    }
}
