using System.CommandLine;
using Tinyo.Rt.Images;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort gc</c>: delete unreferenced blobs and layers and stale temp files.</summary>
internal static class GcCommand
{
    public static Command Create()
    {
        var cmd = new Command("gc", "Delete blobs and layers no image references, and leftovers of interrupted pulls");
        cmd.SetAction((pr, ct) => Cli.Run(async () =>
        {
            Print(await new ImageGc(new ImageStore(Cli.ResolveRoot(pr))).CollectAsync(ct).ConfigureAwait(false));
            return 0;
        }));
        return cmd;
    }

    internal static void Print(GcResult r)
        => Console.Out.WriteLine($"Deleted: {r.Blobs} blobs, {r.Layers} layers, {r.TempEntries} temp entries ({Cli.Size(r.BytesFreed)} of blobs)");
}
