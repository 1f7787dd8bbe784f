using System.CommandLine;

namespace Tinyo.Kv.Cli.Commands;

/// <summary>tinyokv compact REVISION: forgets history before a revision.</summary>
internal static class CompactCommand
{
    public static Command Create()
    {
        var rev = new Argument<long>("revision") { Description = "Compact history up to this revision" };
        var cmd = new Command("compact", "Compact the history") { rev };
        Common.Run(cmd, async (pr, ct) =>
        {
            await using var client = Common.Client(pr);
            await client.CompactAsync(pr.GetValue(rev), ct);
            Console.WriteLine($"compacted revision {pr.GetValue(rev)}");
            return 0;
        });
        return cmd;
    }
}
