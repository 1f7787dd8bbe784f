using System.CommandLine;
using Tinyo.Rt.Images;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort pull REF</c>: fetch an image from a registry into the store.</summary>
internal static class PullCommand
{
    public static Command Create()
    {
        var reference = new Argument<string>("REF") { Description = "Image reference: [REGISTRY/]NAME[:TAG][@sha256:DIGEST]" };
        var insecure = new Option<bool>("--insecure") { Description = "Use plain HTTP (loopback registries always do)" };
        var platform = new Option<string?>("--platform") { Description = "os/arch[/variant] to pick from a multi-platform image (default: the host's)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress display" };
        var cmd = new Command("pull", "Pull an image from a registry") { reference, insecure, platform, quiet };
        cmd.SetAction((pr, ct) => Cli.Run(async () =>
        {
            var r = ImageReference.Parse(pr.GetValue(reference));
            var progress = new PullProgress();
            var options = new PullOptions
            {
                Insecure = pr.GetValue(insecure),
                Platform = pr.GetValue(platform) is { } p ? Platform.Parse(p) : null,
                Progress = progress,
            };
            var store = new ImageStore(Cli.ResolveRoot(pr));
            var pull = new Puller(store).PullAsync(r, options, ct);
            if (!pr.GetValue(quiet) && !Console.IsErrorRedirected)
            {
                var started = Environment.TickCount64;
                while (await Task.WhenAny(pull, Task.Delay(100, CancellationToken.None)).ConfigureAwait(false) != pull)
                    Draw(r, progress, started);
                if (pull.IsCompletedSuccessfully) Draw(r, progress, started);
                Console.Error.Write('\n');
            }
            var record = await pull.ConfigureAwait(false);
            Console.Out.WriteLine($"{record.Name} {record.Digest}");
            return 0;
        }));
        return cmd;
    }

    private static void Draw(ImageReference r, PullProgress p, long started)
    {
        var secs = (Environment.TickCount64 - started) / 1000.0;
        var total = p.TotalBytes;
        var done = p.DoneBytes;
        var pct = total > 0 ? done * 100 / total : 0;
        Console.Error.Write($"\r\x1b[K{r}: layers {p.LayersDone}/{p.Layers}  {Cli.Size(done)}/{Cli.Size(total)} ({pct}%)  {secs:0.0}s");
    }
}
