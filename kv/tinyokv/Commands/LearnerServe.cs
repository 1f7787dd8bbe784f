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
        var learner = new LearnerNode(options);
        KvServer? server = null;
        try
        {
            try
            {
                // Serves only once it holds a copy (saved, or copied from the group).
                await learner.StartAsync(stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return 0;
            }
            server = new KvServer(learner);
            server.Start();
            learner.Announce();
            Console.WriteLine($"tinyokv: learner {options.Name} serving clients on {Endpoints.Format(options.ClientAddress)} " +
                              $"at revision {learner.Store.Current.Revision}");
            await Task.WhenAny(Task.Delay(Timeout.Infinite, stop.Token), learner.Promoted);
            if (!learner.Promoted.IsCompletedSuccessfully)
            {
                Console.WriteLine($"tinyokv: learner {options.Name} stopping");
                return 0;
            }
            await Task.Delay(300, CancellationToken.None); // let the answer to `member promote` reach the client
        }
        finally
        {
            if (server is not null) await server.DisposeAsync();
            await learner.DisposeAsync();
        }

        // Promoted (`member promote`): the learner is stopped and deregistered; its member takes over the client port.
        await using var node = await learner.Promoted;
        File.Delete(Path.Combine(options.DataDir, "learner.snap")); // from now on the process runs the member in DATA/member
        await using var memberServer = new KvServer(node);
        memberServer.Start();
        Console.WriteLine($"tinyokv: {options.Name} now serves as a member on {Endpoints.Format(options.ClientAddress)}, peers on {Endpoints.Format(node.Options.PeerAddress)}");
        return await ServeCommand.ServeUntilStoppedAsync(node, leaveOnStop: false, stop.Token);
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
