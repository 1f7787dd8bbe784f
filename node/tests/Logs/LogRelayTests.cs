using System.Text;
using Tinyo.Linux;
using Tinyo.Node.Logs;
using Tinyo.Rt.Processes;

namespace Tinyo.Node.Tests.Logs;

/// <summary>
/// The log relay (Tinyo.Rt's <see cref="LogRelay"/>, run by the exit monitor) against a real FIFO: both files within
/// the cap at every step, nothing lost or reordered across a rotation, back-pressure rather than loss, end of file
/// once the writers are gone; and the follower across its renames.
/// </summary>
public sealed class LogRelayTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("tinyo-relay-").FullName;
    private string Fifo => Path.Combine(dir, LogRelay.FifoName);
    private string Log => Path.Combine(dir, "container.log");

    public void Dispose() => Directory.Delete(dir, true);

    private static long Size(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;

    /// <summary>A FIFO with the relay's O_RDONLY|O_NONBLOCK end and a writer's O_RDWR end (as the container's).</summary>
    private (LogRelay Relay, FileStream Writer) Open(long cap)
    {
        Assert.Equal(0, Libc.SysMkfifo(Fifo, 0x180));
        int r = Libc.SysOpen(Fifo, Libc.OFlag.RdOnly | Libc.OFlag.NonBlock | Libc.OFlag.Cloexec, 0);
        Assert.True(r >= 0);
        var w = new FileStream(Fifo, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1);
        return (new LogRelay("c1", r, Log, cap), w);
    }

    [Fact]
    public void Both_files_stay_within_the_cap_and_the_newest_lines_are_kept_in_order()
    {
        const long cap = 4096;
        var (relay, w) = Open(cap);
        using (relay)
        {
            var all = new StringBuilder();
            for (int i = 0; i < 2000; i++)
            {
                var line = $"line {i:D5} {new string('x', i % 37)}\n";
                all.Append(line);
                w.Write(Encoding.ASCII.GetBytes(line));
                if (i % 50 == 0)
                {
                    w.Flush();
                    Assert.True(relay.Pump());
                    Assert.True(Size(Log) <= cap, $"log {Size(Log)} > cap");
                    Assert.True(Size(LogRelay.Rotated(Log)) <= cap, $".1 {Size(LogRelay.Rotated(Log))} > cap");
                }
            }
            w.Flush();
            Assert.True(relay.Pump());
            w.Dispose(); // the last writer goes: end of file
            Assert.False(relay.Pump());
            Assert.True(relay.Rotations > 10, $"only {relay.Rotations} rotations");
            Assert.Equal(0, relay.Dropped);
            Assert.True(Size(Log) <= cap && Size(LogRelay.Rotated(Log)) <= cap);
            // .1 + log is exactly the end of what was written, and rotations fell on line ends.
            var kept = File.ReadAllText(LogRelay.Rotated(Log)) + File.ReadAllText(Log);
            Assert.EndsWith(kept, all.ToString());
            Assert.EndsWith("\n", File.ReadAllText(LogRelay.Rotated(Log)));
            Assert.StartsWith("line ", File.ReadAllText(Log));
            Assert.StartsWith("line ", File.ReadAllText(LogRelay.Rotated(Log)));
            // tio logs --tail joins the two files.
            var tail = Encoding.ASCII.GetString(ContainerLogs.Tail(Log, 3).Data);
            Assert.Equal(string.Join("", all.ToString().Split('\n')[^4..^1].Select(l => l + "\n")), tail);
        }
    }

    [Fact]
    public async Task A_full_pipe_blocks_the_writer_until_the_relay_reads()
    {
        var (relay, w) = Open(1 << 20);
        using (relay)
        using (w)
        {
            int capacity = Libc.SysFcntl((int)w.SafeFileHandle.DangerousGetHandle(), 1032 /* F_GETPIPE_SZ */, 0);
            Assert.True(capacity > 0);
            var chunk = new byte[4096];
            Array.Fill(chunk, (byte)'y');
            long written = 0;
            var writer = Task.Run(() =>
            {
                for (int i = 0; i < 4 * capacity / chunk.Length; i++)
                {
                    w.Write(chunk);
                    Interlocked.Add(ref written, chunk.Length);
                }
            });
            await Task.Delay(500);
            Assert.False(writer.IsCompleted); // blocked: the pipe is full and nobody reads
            Assert.True(Interlocked.Read(ref written) <= capacity);
            while (!writer.IsCompleted) relay.Pump();
            await writer;
            relay.Pump();
            Assert.Equal(4L * capacity / chunk.Length * chunk.Length, Size(Log)); // nothing lost
        }
    }

    [Fact]
    public void A_line_longer_than_the_room_left_rotates_first_and_never_exceeds_the_cap()
    {
        const long cap = 100;
        var (relay, w) = Open(cap);
        using (relay)
        using (w)
        {
            foreach (var n in new[] { 60, 60, 99, 100, 1, 100, 250 })
            {
                w.Write(Encoding.ASCII.GetBytes(new string('a', n - 1) + "\n"));
                w.Flush();
                relay.Pump();
                Assert.True(Size(Log) <= cap && Size(LogRelay.Rotated(Log)) <= cap, $"{Size(Log)} / {Size(LogRelay.Rotated(Log))}");
            }
            Assert.Equal(0, relay.Dropped);
        }
    }

    [Fact]
    public async Task Follow_reads_across_rotations_by_rename_without_losing_lines()
    {
        const long cap = 400; // 300 lines of 6 bytes: four rotations; at most 120 bytes between two catch-ups

        var (relay, w) = Open(cap);
        using (relay)
        {
            File.WriteAllText(Log, "");
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            bool alive = true;
            var got = new StringBuilder();
            var follow = Task.Run(async () =>
            {
                await foreach (var chunk in ContainerLogs.FollowAsync(Log, 0, TimeSpan.FromMilliseconds(5), () => alive, cts.Token))
                    lock (got) got.Append(Encoding.ASCII.GetString(chunk.Span));
            });
            var all = new StringBuilder();
            for (int i = 0; i < 300; i++)
            {
                var line = $"l{i:D4}\n";
                all.Append(line);
                w.Write(Encoding.ASCII.GetBytes(line));
                w.Flush();
                relay.Pump();
                if (i % 20 == 0)
                {
                    // Let the follower catch up now and then: it can only miss a file rotated twice between two reads.
                    while (true)
                    {
                        lock (got) if (got.Length >= all.Length) break;
                        cts.Token.ThrowIfCancellationRequested();
                        await Task.Delay(5);
                    }
                }
            }
            while (true)
            {
                lock (got) if (got.Length >= all.Length) break;
                cts.Token.ThrowIfCancellationRequested();
                await Task.Delay(5);
            }
            alive = false;
            w.Dispose();
            File.Delete(Log);
            await follow.WaitAsync(cts.Token);
            Assert.True(relay.Rotations >= 2);
            Assert.Equal(all.ToString(), got.ToString());
        }
    }
}
