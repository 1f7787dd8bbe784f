using System.CommandLine;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>tinyokv status: the contacted member's role, term, revision and log positions.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var cmd = new Command("status", "Show the status of the member contacted");
        Common.Run(cmd, async (pr, ct) =>
        {
            await using var client = Common.Client(pr);
            var s = await client.StatusAsync(ct);
            if (Common.Json(pr)) Common.PrintJson(s, CliJson.Default.StatusInfo);
            else
                Console.WriteLine($"{s.Name} {s.ClientAddress} role={s.Role} leader={s.Leader} term={s.Term} revision={s.Revision} " +
                                  (s.Role == "learner" ? $"keys={s.Keys} copies={s.SnapshotsInstalled}" // no Raft log: no indexes
                                      : $"applied={s.AppliedIndex} commit={s.CommitIndex} snapshot={s.SnapshotIndex} keys={s.Keys}"));
            return 0;
        });
        return cmd;
    }
}
