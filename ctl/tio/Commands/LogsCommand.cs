using System.CommandLine;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio logs [-f] [--tail N] [-r N] NAME: an app replica's output (stdout and stderr, as the container wrote them).</summary>
internal static class LogsCommand
{
    public static Command Create()
    {
        var app = new Argument<string>("NAME") { Description = "The app" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new output until the container stops (Ctrl-C to stop)" };
        var tail = new Option<int?>("--tail", "-n") { Description = "Only the last N lines" };
        var replica = new Option<int>("--replica", "-r") { Description = "Which replica (1-based)", DefaultValueFactory = _ => 1 };
        var cmd = new Command("logs", "Print an app's output (replica 1 unless -r)") { app, follow, tail, replica };
        Common.Run(cmd, async (pr, ct) =>
        {
            if (pr.GetValue(replica) < 1) throw new UsageException("--replica counts from 1");
            if (pr.GetValue(tail) is < 0) throw new UsageException("--tail must not be negative");
            var output = Console.OpenStandardOutput();
            try
            {
                await Common.Client(pr).LogsAsync(pr.GetValue(app)!, pr.GetValue(replica), pr.GetValue(tail), pr.GetValue(follow), output, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested && pr.GetValue(follow))
            {
                return Exit.Interrupted; // Ctrl-C is how a follow ends: no error message
            }
            return Exit.Ok;
        });
        return cmd;
    }
}
