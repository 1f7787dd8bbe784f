using Tinyo.Rt.Tests.Fixtures;
using Tinyo.Linux;

namespace Tinyo.Kv.Tests.DiskFull;

/// <summary>A daemon's log on a disk that fills up and frees again: no exception, lines counted, one notice.</summary>
public class DaemonLogTests
{
    [SkippableFact]
    public void Lines_that_do_not_fit_are_dropped_counted_and_reported_once_space_is_back()
    {
        using var disk = new SmallTmpfs(1 * 1024);
        Skip.If(disk.Unavailable is not null, "needs root to mount a tmpfs");
        var path = Path.Combine(disk.Dir, "daemon.log");
        using var handle = File.OpenHandle(path, FileMode.Append, FileAccess.Write);
        {
            using var log = new DaemonLog((int)handle.DangerousGetHandle(), "testd");
            // One whole page, so no slack is left in the log's last page for a lost line to slip into.
            log.WriteLine("first line" + new string('.', 4096 - 11));
            disk.Fill();
            for (var i = 0; i < 5; i++) log.WriteLine($"lost line {i} " + new string('x', 8192)); // more than any slack left
            Assert.Equal(5, log.Dropped);
            File.Delete(Path.Combine(disk.Dir, "filler"));
            log.Write("back ");
            log.WriteLine("again");
            log.WriteLine("and on");
            var text = File.ReadAllText(path);
            Assert.StartsWith("first line...", text, StringComparison.Ordinal);
            Assert.Contains("testd: 5 log lines dropped while the log could not be written (no space left on device)\nback again\nand on\n", text, StringComparison.Ordinal);
            Assert.DoesNotContain("lost line", text, StringComparison.Ordinal);
            Assert.Single(text.Split('\n'), l => l.Contains("dropped", StringComparison.Ordinal));
        }
    }
}
