using System.CommandLine;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Cli.Commands;

/// <summary><c>tinyort logs [-f] NAME</c>: the output of a detached container; <c>-f</c> follows it until it stops.</summary>
internal static class LogsCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("CONTAINER") { Description = "Container name or id" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new output until the container stops" };
        var cmd = new Command("logs", "Print a detached container's output") { name, follow };
        cmd.SetAction((pr, ct) => Cli.Run(async () =>
        {
            var ic = ContainerCli.Containers(pr);
            var id = ContainerNames.Resolve(ic.Root, pr.GetValue(name)!);
            var path = ic.LogFile(id);
            if (!File.Exists(path)) throw new RtException($"container {pr.GetValue(name)} has no log (it was not started with -d)");
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var stdout = Console.OpenStandardOutput();
            var buf = new byte[64 * 1024];
            while (true)
            {
                int n;
                while ((n = await f.ReadAsync(buf, ct).ConfigureAwait(false)) > 0) await stdout.WriteAsync(buf.AsMemory(0, n), ct).ConfigureAwait(false);
                if (!pr.GetValue(follow)) break;
                bool running;
                try { running = ic.Summary(id).Status != "exited"; }
                catch (RtException) { running = false; }
                if (!running)
                {
                    while ((n = await f.ReadAsync(buf, ct).ConfigureAwait(false)) > 0) await stdout.WriteAsync(buf.AsMemory(0, n), ct).ConfigureAwait(false);
                    break;
                }
                await Task.Delay(100, ct).ConfigureAwait(false);
            }
            await stdout.FlushAsync(ct).ConfigureAwait(false);
            return 0;
        }));
        return cmd;
    }
}
