using Tinyo.Linux;

namespace Tinyo.Node.Logs;

/// <summary>
/// Holds every container's log to its cap while it is being written: one thread, one inotify descriptor with a
/// watch on each <c>CONTAINERS/ID/container.log</c>; a write to a log wakes it, and a log over the cap is rotated
/// (<see cref="ContainerLogs.EnforceCap"/>) within milliseconds instead of at the next 30 s sweep.
/// </summary>
/// <remarks>
/// <para>Why not a pipe to a relay in the node (the bound would then be exact): the container's stdout would be the
/// pipe, and a node that restarts or dies loses its end — the container's next write is a SIGPIPE, or with a
/// keeper of the read end, a write that blocks until the node is back. The container writing its own O_APPEND file
/// survives anything the node does; the price is that the bound holds within what one writer adds during one
/// rotation (the writer is not throttled). Measured with a <c>yes</c> flood of ~100 MB/s (<c>LogCapWatcherTests</c>,
/// load 34–40 on 2 cores): log + <c>.1</c> stayed within 2× the 10 MiB cap half the time and peaked at 27–74 MiB, where the 30 s sweep let it reach
/// GBs. docs/architecture.md, "Container logs", weighs the relay that would make the bound exact.</para>
/// <para>inotify merges identical unread events, so a flood costs one wake-up per read, not per write; a 2 ms pause
/// after each batch bounds the thread's CPU under a flood. New logs are found by a rescan of the containers
/// directory every 2 s (a readdir; a watch on a deleted file goes away by itself, IN_IGNORED).</para>
/// </remarks>
public sealed unsafe class LogCapWatcher : IDisposable
{
    private const uint InModify = 0x2, InIgnored = 0x8000;
    private const int InNonblock = 0x800, InCloexec = 0x80000;
    private static readonly TimeSpan Rescan = TimeSpan.FromSeconds(2);

    private readonly string containers;
    private readonly long maxBytes;
    private readonly Action<string> log;
    private readonly int fd;
    private readonly Dictionary<int, string> watches = [];
    private readonly Thread thread;
    private volatile bool stopping;

    /// <summary>Starts watching the logs under <paramref name="containersDir"/> (rt's <c>containers/</c>).</summary>
    public LogCapWatcher(string containersDir, long maxBytes, Action<string> log)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        containers = containersDir;
        this.maxBytes = maxBytes;
        this.log = log;
        fd = Libc.InotifyInit1(InNonblock | InCloexec);
        if (fd < 0) throw new NodeException($"inotify_init1: {Libc.Describe(Libc.Errno)}");
        thread = new Thread(Run) { IsBackground = true, Name = "log-cap" };
        thread.Start();
    }

    /// <summary>Rotations done since start (tests, diagnostics).</summary>
    public long Rotations { get; private set; }

    private void Run()
    {
        // A flood's writer and this thread race for the CPU; on a loaded host (load 40 on 2 cores: 450 ms late) the
        // default weight lets the log run tens of MiB over. nice -10 for this thread only (root; best effort).
        Libc.Setpriority(0 /* PRIO_PROCESS: a tid names one thread */, Libc.Gettid(), -10);
        var buf = new byte[16 << 10];
        var nextScan = DateTime.MinValue;
        var due = new HashSet<string>(StringComparer.Ordinal);
        while (!stopping)
        {
            if (DateTime.UtcNow >= nextScan)
            {
                Scan();
                nextScan = DateTime.UtcNow + Rescan;
            }
            var pfd = new Libc.PollFd { Fd = fd, Events = 1 /* POLLIN */ };
            if (Libc.Poll(&pfd, 1, 250) <= 0) continue;
            nint n;
            fixed (byte* p = buf) n = Libc.Read(fd, p, (nuint)buf.Length);
            if (n <= 0) continue;
            due.Clear();
            for (int off = 0; off + 16 <= n;)
            {
                int wd = BitConverter.ToInt32(buf, off);
                uint mask = BitConverter.ToUInt32(buf, off + 4);
                int len = (int)BitConverter.ToUInt32(buf, off + 12);
                off += 16 + len;
                if ((mask & InIgnored) != 0) watches.Remove(wd);
                else if ((mask & InModify) != 0 && watches.TryGetValue(wd, out var path)) due.Add(path);
            }
            foreach (var path in due) Enforce(path);
            Thread.Sleep(2); // let a flood's events merge into one
        }
    }

    private void Enforce(string path)
    {
        try
        {
            if (ContainerLogs.EnforceCap(path, maxBytes)) Rotations++;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log($"log cap: {path}: {e.Message}");
        }
    }

    private void Scan()
    {
        try
        {
            foreach (var dir in Directory.EnumerateDirectories(containers))
            {
                var path = Path.Combine(dir, ContainerLogName);
                // Adding a watch that exists returns the same descriptor: cheap and idempotent.
                int wd = Libc.InotifyAddWatch(fd, path, InModify);
                if (wd < 0) continue; // no log (not detached) or removed meanwhile
                if (watches.TryAdd(wd, path)) Enforce(path); // it may have grown before we watched it
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // no containers directory yet
        }
    }

    /// <summary>The log file's name in a container's directory (rt's <c>ImageContainers.LogName</c>).</summary>
    public const string ContainerLogName = "container.log";

    /// <summary>Stops the thread and closes the inotify descriptor.</summary>
    public void Dispose()
    {
        if (stopping) return;
        stopping = true;
        thread.Join();
        Libc.Close(fd);
    }
}
