using System.CommandLine;
using Tinyo.Rt.Images;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort rmi REF…</c>: remove image names, then collect what nothing references any more.</summary>
internal static class RmiCommand
{
    public static Command Create()
    {
        var images = new Argument<string[]>("IMAGE") { Description = "Image name or id", Arity = ArgumentArity.OneOrMore };
        var force = new Option<bool>("--force", "-f") { Description = "Remove the name even if containers use the image (their layers stay until they are removed)" };
        var cmd = new Command("rmi", "Remove images (and garbage-collect their blobs and layers)") { images, force };
        cmd.SetAction((pr, ct) => Cli.Run(async () =>
        {
            var store = new ImageStore(Cli.ResolveRoot(pr));
            foreach (var name in pr.GetValue(images)!)
            {
                var rec = store.Find(name);
                if (!pr.GetValue(force))
                    foreach (var c in Containers.ImageContainers.InUse(store.Root))
                        if (c.Manifest == rec.Manifest)
                            throw new RtException($"image {rec.Name} is used by container {c.Name} ({c.Id}): remove the container first or use rmi -f");
            }
            foreach (var name in pr.GetValue(images)!)
                foreach (var r in await store.RemoveImagesAsync(name, ct).ConfigureAwait(false))
                    Console.Out.WriteLine($"Untagged: {r.Name}");
            var gc = await new ImageGc(store).CollectAsync(ct).ConfigureAwait(false);
            GcCommand.Print(gc);
            return 0;
        }));
        return cmd;
    }
}
