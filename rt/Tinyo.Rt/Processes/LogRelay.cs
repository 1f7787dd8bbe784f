using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Processes;

/// <summary>
/// Copies one detached container's output from its log FIFO (<c>containers/ID/log.pipe</c>) into its log file,
/// holding the file to a size cap: the file is the only thing written, by this relay alone, so it rotates by
/// rename (<c>container.log</c> → <c>container.log.1</c>, replacing the previous one) and starts a new file. Both
/// files stay within the cap at every instant, so the log never takes more than twice the cap on disk.
/// </summary>
/// <remarks>
/// <para>Back-pressure instead of loss: the relay reads only what it has written. A container that writes faster than
/// the relay copies fills the pipe and its <c>write</c> blocks until the relay catches up; nothing written is dropped
/// (except on a write error of the file itself, such as a full disk: then the bytes are counted in
/// <see cref="Dropped"/>, so the container is never held hostage by a disk it cannot free).</para>
/// <para>The container's stdout and stderr are the FIFO opened O_RDWR (<see cref="Containers.ImageContainers"/>): the
/// container itself counts as a reader, so a write never raises SIGPIPE, even while no relay runs (the monitor was
/// killed): it blocks once the pipe is full, until a new monitor adopts the FIFO. The relay's own end is O_RDONLY,
/// so it sees end-of-file once every writer (the container and whatever it forked) has exited.</para>
/// <para>A rotation lands on a line boundary when one fits: the part of a chunk up to its last newline that still
/// fits goes to the old file first, so <c>tio logs</c> rarely sees a line split across the two files.</para>
/// <para>Single-threaded (the exit monitor's loop); <see cref="Pump"/> copies at most a bounded amount per call so
/// one flooding container cannot starve the others.</para>
/// </remarks>
public sealed unsafe class LogRelay : IDisposable
{
    /// <summary>The FIFO's name in a container's directory.</summary>
    public const string FifoName = "log.pipe";
    /// <summary>The default cap per file: 10 MiB (and as much in the rotated file).</summary>
    public const long DefaultMaxBytes = 10L << 20;
    private const int Chunk = 64 << 10, PerPump = 16;
    private const int O_APPEND = 0x400, Mode = 0x1A0 /* 0640 */;
    private static readonly byte[] Buffer = new byte[Chunk];

    private readonly long cap;
    private readonly Action<string>? onProblem;
    private int log = -1;
    private long size;

    /// <summary>A relay from <paramref name="fifoFd"/> (owned from now on) into <paramref name="logPath"/>, each file
    /// at most <paramref name="maxBytes"/>; <paramref name="onProblem"/> hears the first write error.</summary>
    public LogRelay(string id, int fifoFd, string logPath, long maxBytes, Action<string>? onProblem = null)
    {
        this.onProblem = onProblem;
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 2);
        Id = id;
        Fd = fifoFd;
        LogPath = logPath;
        cap = maxBytes;
    }

    /// <summary>The container id.</summary>
    public string Id { get; }
    /// <summary>The relay's read end of the FIFO.</summary>
    public int Fd { get; }
    /// <summary>The log file written.</summary>
    public string LogPath { get; }
    /// <summary>The rotated file next to <paramref name="logPath"/>.</summary>
    public static string Rotated(string logPath) => logPath + ".1";
    /// <summary>Bytes the file could not take (write errors such as a full disk).</summary>
    public long Dropped { get; private set; }
    /// <summary>Rotations done.</summary>
    public long Rotations { get; private set; }
    /// <summary>The first error writing or rotating the file (reported once to the callback).</summary>
    public string? Problem { get; private set; }

    /// <summary>
    /// Copies what the FIFO holds now (bounded per call). Returns false once the FIFO is at end-of-file — every
    /// writer gone — and true while it may still deliver (call again when it is readable).
    /// </summary>
    public bool Pump()
    {
        for (int i = 0; i < PerPump; i++)
        {
            int want = (int)Math.Min(Chunk, cap);
            nint n;
            fixed (byte* p = Buffer) n = SysRead(Fd, p, (nuint)want);
            if (n == 0) return false;
            if (n < 0)
            {
                int e = Errno;
                if (e == Errno_.EINTR) continue;
                return e == Errno_.EAGAIN;
            }
            Write(Buffer.AsSpan(0, (int)n));
            if (n < want) return true; // drained for now
        }
        return true;
    }

    /// <summary>Writes <paramref name="data"/> (at most the cap) into the file, rotating first when it would not fit.</summary>
    internal void Write(ReadOnlySpan<byte> data)
    {
        if (log < 0 && !Open()) { Dropped += data.Length; return; }
        if (size + data.Length > cap && size > 0)
        {
            // Fill the old file up to the last line end that fits, so the line is not split across the two files.
            int room = (int)Math.Max(0, cap - size);
            int nl = data[..Math.Min(room, data.Length)].LastIndexOf((byte)'\n');
            if (nl >= 0)
            {
                Append(data[..(nl + 1)]);
                data = data[(nl + 1)..];
            }
            Rotate();
            if (log < 0) { Dropped += data.Length; return; }
        }
        if (data.Length > 0) Append(data);
    }

    private void Append(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            nuint off = 0;
            while (off < (nuint)data.Length)
            {
                nint w = SysWrite(log, p + off, (nuint)data.Length - off);
                if (w < 0)
                {
                    if (Errno == Errno_.EINTR) continue;
                    Report("writing " + LogPath + ": " + Describe(Errno));
                    Dropped += data.Length - (long)off;
                    return;
                }
                off += (nuint)w;
                size += w;
            }
        }
    }

    private bool Open()
    {
        log = SysOpen(LogPath, OFlag.WrOnly | OFlag.Creat | OFlag.Cloexec | O_APPEND, Mode);
        if (log < 0)
        {
            Report("opening " + LogPath + ": " + Describe(Errno));
            return false;
        }
        // A restarted container appends to its log; an older, larger file (an O_APPEND log from before) rotates at once.
        size = StatxAt(log, "\0"u8, AT_EMPTY_PATH_, out var st) == 0 ? (long)st.Size : 0;
        return true;
    }

    private void Rotate()
    {
        SysClose(log);
        log = -1;
        try
        {
            File.Move(LogPath, Rotated(LogPath), overwrite: true);
            Rotations++;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Report("rotating " + LogPath + ": " + e.Message);
        }
        // New file: O_TRUNC in case the rename failed, so the cap holds whatever happened.
        log = SysOpen(LogPath, OFlag.WrOnly | OFlag.Creat | OFlag.Trunc | OFlag.Cloexec | O_APPEND, Mode);
        size = 0;
        if (log < 0) Report("opening " + LogPath + ": " + Describe(Errno));
    }

    private void Report(string problem)
    {
        if (Problem is not null) return; // the first one says it; a full disk would otherwise say it per write
        Problem = problem;
        onProblem?.Invoke(problem);
    }

    /// <summary>Closes the FIFO and the file.</summary>
    public void Dispose()
    {
        SysClose(Fd);
        if (log >= 0) SysClose(log);
        log = -1;
    }
}
