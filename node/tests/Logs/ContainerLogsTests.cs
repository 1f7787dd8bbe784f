using System.Diagnostics;
using System.Text;
using Tinyo.Node.Logs;

namespace Tinyo.Node.Tests.Logs;

public sealed class ContainerLogsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("tinyonode-logs-").FullName;
    private string Log => Path.Combine(dir, "container.log");

    public void Dispose() => Directory.Delete(dir, true);

    private static string S(byte[] b) => Encoding.UTF8.GetString(b);

    [Fact]
    public void Tail_returns_the_last_lines_and_the_offset_to_follow_from()
    {
        File.WriteAllText(Log, string.Concat(Enumerable.Range(1, 10).Select(i => $"line {i}\n")));
        var (data, off) = ContainerLogs.Tail(Log, 3);
        Assert.Equal("line 8\nline 9\nline 10\n", S(data));
        Assert.Equal(new FileInfo(Log).Length, off);
        Assert.Equal(File.ReadAllText(Log), S(ContainerLogs.Tail(Log, null).Data));
        Assert.Equal(File.ReadAllText(Log), S(ContainerLogs.Tail(Log, 100).Data));
        Assert.Empty(ContainerLogs.Tail(Log, 0).Data);
    }

    [Fact]
    public void Tail_counts_an_unterminated_last_line_and_spans_blocks()
    {
        var big = new string('x', 20000);
        File.WriteAllText(Log, $"a\n{big}\nb\nc");
        Assert.Equal("b\nc", S(ContainerLogs.Tail(Log, 2).Data));
        Assert.Equal($"{big}\nb\nc", S(ContainerLogs.Tail(Log, 3).Data));
        Assert.Empty(ContainerLogs.Tail(Path.Combine(dir, "missing.log"), 5).Data);
    }

    [Fact]
    public void EnforceCap_copies_to_dot1_and_truncates_and_tail_spans_the_rotation()
    {
        File.WriteAllText(Log, "old 1\nold 2\nold 3\n");
        Assert.False(ContainerLogs.EnforceCap(Log, 1000));
        Assert.True(ContainerLogs.EnforceCap(Log, 13));
        // .1 keeps the newest half cap, from a line start: a flood no longer makes a .1 as large as the flood.
        Assert.Equal("old 3\n", File.ReadAllText(ContainerLogs.Rotated(Log)));
        Assert.Equal(0, new FileInfo(Log).Length);
        File.AppendAllText(Log, "new 1\n");
        Assert.Equal("old 3\nnew 1\n", S(ContainerLogs.Tail(Log, 3).Data));
        // No line starts in the kept half: its raw bytes.
        File.WriteAllText(Log, new string('a', 30) + "\n");
        Assert.True(ContainerLogs.EnforceCap(Log, 10));
        Assert.Equal("aaaa\n", File.ReadAllText(ContainerLogs.Rotated(Log)));
        Assert.False(ContainerLogs.EnforceCap(Path.Combine(dir, "missing.log"), 10));
    }

    [Fact]
    public void Rotation_under_a_live_O_APPEND_writer_leaves_no_hole()
    {
        // sh's >> opens with O_APPEND, as the runtime opens a detached container's log.
        var psi = new ProcessStartInfo("sh") { UseShellExecute = false };
        foreach (var a in (string[])["-c", $"i=0; while :; do echo \"line $i\"; i=$((i+1)); done >> '{Log}'"]) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        try
        {
            int rotations = 0;
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (rotations < 3 && DateTime.UtcNow < deadline)
            {
                if (ContainerLogs.EnforceCap(Log, 64 * 1024)) rotations++;
                Thread.Sleep(10);
            }
            Assert.Equal(3, rotations);
            Thread.Sleep(50);
            var b = File.ReadAllBytes(Log);
            Assert.True(b.Length > 0, "the writer goes on after the truncation");
            Assert.DoesNotContain((byte)0, b); // a writer without O_APPEND would have left a hole of NULs
            Assert.StartsWith("line ", Encoding.ASCII.GetString(File.ReadAllBytes(ContainerLogs.Rotated(Log))));
        }
        finally
        {
            p.Kill();
            p.WaitForExit();
        }
    }

    [Fact]
    public async Task Follow_sees_appends_and_continues_after_a_truncation()
    {
        File.WriteAllText(Log, "before\n");
        var (_, off) = ContainerLogs.Tail(Log, 0);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        bool alive = true;
        var got = new StringBuilder();
        var follow = Task.Run(async () =>
        {
            await foreach (var chunk in ContainerLogs.FollowAsync(Log, off, TimeSpan.FromMilliseconds(20), () => alive, cts.Token))
                lock (got) got.Append(Encoding.UTF8.GetString(chunk.Span));
        });
        async Task WaitFor(string s)
        {
            while (true)
            {
                lock (got) if (got.ToString().Contains(s)) return;
                cts.Token.ThrowIfCancellationRequested();
                await Task.Delay(10);
            }
        }
        File.AppendAllText(Log, "one\n");
        await WaitFor("one\n");
        File.AppendAllText(Log, "two two two two\n");
        await WaitFor("two two two two\n");
        Assert.True(ContainerLogs.EnforceCap(Log, 4));
        File.AppendAllText(Log, "three\n");
        await WaitFor("three\n");
        alive = false; // the container is gone: the follower ends by itself
        File.Delete(Log);
        await follow.WaitAsync(cts.Token);
        Assert.Equal("one\ntwo two two two\nthree\n", got.ToString());
    }
}
