using System.CommandLine;
using Tinyo.Rt.Images;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort rmi REF…</c>: remove image names, then collect what nothing references any more.</summary>
internal static class RmiCommand
{
    public static Command Create()
    {
        var images = new Argument<string[]>("IMAGE") { Description = "Image name or id", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("rmi", "Remove images (and garbage-collect their blobs and layers)") { images };
        cmd.SetAction((pr, ct) => Cli.Run(async () =>
        {
            var store = new ImageStore(Cli.ResolveRoot(pr));
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
