using System.CommandLine;
using System.Text.Json;
using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Cli.Commands;

/// <summary>
/// <c>tinyort events [--stats] [--interval 5s] ID</c> (runc): with <c>--stats</c>, one stats event of the container
/// as a JSON line (cpu, memory, pids from its cgroup); without it, a stats event every interval until the container
/// stops (runc also reports OOM events there; tinyort does not yet). The JSON has runc's shape
/// (<c>{"type":"stats","id":ID,"data":{...}}</c>).
/// </summary>
internal static class EventsCommand
{
    public static Command Build(Option<string?> root)
    {
        var id = OciCommon.IdArgument();
        var stats = new Option<bool>("--stats") { Description = "Print one stats event and exit" };
        var interval = new Option<string>("--interval") { Description = "Interval between stats events (e.g. 5s, 500ms)", DefaultValueFactory = _ => "5s" };
        var cmd = new Command("events", "Print a container's resource statistics as JSON events") { id, stats, interval };
        cmd.SetAction((r, ct) => Task.FromResult(OciCommon.Guard(r, () =>
        {
            var rootDir = RuntimeRoot.Resolve(r.GetValue(root));
            var cid = r.GetValue(id)!;
            var every = ParseInterval(r.GetValue(interval)!);
            using var stdout = Console.OpenStandardOutput();
            while (true)
            {
                using (var w = new Utf8JsonWriter(stdout)) ContainerControl.WriteStatsEvent(rootDir, cid, w);
                stdout.WriteByte((byte)'\n');
                stdout.Flush();
                if (r.GetValue(stats)) return 0;
                try { Task.Delay(every, ct).Wait(ct); }
                catch (OperationCanceledException) { return 0; }
                if (ContainerControl.Pids(rootDir, cid).Count == 0) return 0;
            }
        })));
        return cmd;
    }

    private static TimeSpan ParseInterval(string s)
    {
        var (num, scale) = s.EndsWith("ms", StringComparison.Ordinal) ? (s[..^2], 1.0) : s.EndsWith('s') ? (s[..^1], 1000.0)
            : s.EndsWith('m') ? (s[..^1], 60_000.0) : (s, 1000.0);
        if (!double.TryParse(num, System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out var v) || v <= 0)
            throw new RtException($"--interval {s}: expected a positive duration such as 5s or 500ms");
        return TimeSpan.FromMilliseconds(v * scale);
    }
}
