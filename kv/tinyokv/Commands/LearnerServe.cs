using System.Runtime.InteropServices;
using Tinyo.Kv.Learner;
using Tinyo.Kv.Protocol;
using Tinyo.Kv.Server;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>tinyokv serve --learner: a read-only copy of a group (see <see cref="LearnerNode"/>) until SIGTERM or SIGINT.</summary>
internal static class LearnerServe
{
    public static async Task<int> RunAsync(LearnerOptions options, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; Stop(stop); });
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; Stop(stop); });
        try
        {
            Directory.CreateDirectory(options.DataDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KvException($"cannot create data directory {options.DataDir}");
        }
        await using var learner = new LearnerNode(options);
        try
        {
            // Serves only once it holds a copy (saved, or copied from the group).
            await learner.StartAsync(stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return 0;
        }
        await using var server = new KvServer(learner);
        server.Start();
        Console.WriteLine($"tinyokv: learner {options.Name} serving clients on {Endpoints.Format(options.ClientAddress)} " +
                          $"at revision {learner.Store.Current.Revision}");
        await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Console.WriteLine($"tinyokv: learner {options.Name} stopping");
        return 0;
    }

    private static void Stop(CancellationTokenSource stop)
    {
        try
        {
            stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // a second signal while shutting down
        }
    }
}
