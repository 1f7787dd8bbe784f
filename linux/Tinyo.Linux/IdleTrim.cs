using System.Buffers.Text;
using System.Runtime.InteropServices;

namespace Tinyo.Linux;

/// <summary>
/// Gives memory back once a daemon has gone quiet after work (start-up, an image pull, a burst of requests).
/// Used by tinyokv and tinyonode, whose idle RSS is mostly pages touched once and never again: of a fresh node's
/// 28.9 MiB (both daemons), 21.6 were file pages (the executables' code and data, libcrypto, libc) mostly touched by
/// start-up alone, and each pull, unpack or proxy setup left more code and a grown managed heap behind
/// (docs/benchmarks.md, idle RSS).
/// </summary>
/// <remarks>
/// A trim is an aggressive, compacting gen2 collection (the GC decommits what it freed; ArrayPool trims on it), then
/// the release of the loaded ELF images' pages (<see cref="ReleaseImages"/>). Nothing is lost: a page released is
/// read again from its file (from the page cache, or the disk) when next used; the cost is those page faults, paid
/// by the first request that runs cold code.
/// "Quiet" is measured by allocation, with no hooks into the daemon: a period in which less than
/// <see cref="QuietBytes"/> were allocated is quiet; after <c>quietFor</c> of quiet periods, and if at least
/// <see cref="WorkBytes"/> were allocated since the previous trim (or it is the first), it trims once. Light work
/// (a few requests to the KV) allocates less than that but still faults code back in: so a quiet process whose RSS
/// has grown by <see cref="RegrowKiB"/> since its last trim trims again, checked at most once a minute, and each such
/// trim in a row doubles that wait (up to an hour), so that an idle loop whose own pages exceed the threshold is not
/// trimmed over and over. An idle daemon therefore trims once and then sleeps; a busy one never trims.
/// </remarks>
public sealed class IdleTrim : IDisposable
{
    /// <summary>Allocation per period below which the period counts as quiet.</summary>
    public const long QuietBytes = 256 << 10;

    /// <summary>Allocation since the previous trim that makes another one worth doing.</summary>
    public const long WorkBytes = 1 << 20;

    /// <summary>RSS growth since the last trim that makes a quiet process trim again without <see cref="WorkBytes"/>.</summary>
    public const long RegrowKiB = 3 << 10;

    private const long RegrowWaitMs = 60_000, RegrowWaitMaxMs = 3_600_000;
    private const int MadvDontneed = 4, MadvPageout = 21; // PAGEOUT: Linux 5.4+
    private const int FadvDontneed = 4;

    private readonly Timer timer;
    private readonly long quietForMs, quietBytes;
    private readonly Action<string>? log;
    private long lastAllocated;
    private long quietSinceMs;
    private long allocatedAtTrim = -1; // never trimmed: start-up is work
    private long rssAfterTrimKiB;
    private long regrowWaitMs = RegrowWaitMs, regrowCheckMs;
    private readonly byte[] statusBuffer = new byte[4096];
    private int busy;

    /// <summary>Starts watching; trims after <paramref name="quietFor"/> of quiet following work.</summary>
    /// <param name="quietFor">How long the process must have been quiet (at least one second).</param>
    /// <param name="log">Where to say what each trim gave back (optional).</param>
    public IdleTrim(TimeSpan quietFor, Action<string>? log = null)
        : this(quietFor, log, QuietBytes)
    {
    }

    /// <summary>Tests: another quiet threshold (the test process allocates for its other tests meanwhile).</summary>
    internal IdleTrim(TimeSpan quietFor, Action<string>? log, long quietBytes)
    {
        this.quietBytes = quietBytes;
        if (quietFor < TimeSpan.FromSeconds(1)) throw new ArgumentOutOfRangeException(nameof(quietFor), "at least one second");
        quietForMs = (long)quietFor.TotalMilliseconds;
        this.log = log;
        lastAllocated = GC.GetTotalAllocatedBytes();
        quietSinceMs = Environment.TickCount64;
        var period = TimeSpan.FromMilliseconds(Math.Max(1000, quietForMs / 4));
        timer = new Timer(static s => ((IdleTrim)s!).Tick(), this, period, period);
    }

    /// <summary>Number of trims done so far.</summary>
    public int Trims { get; private set; }

    private void Tick()
    {
        if (Interlocked.Exchange(ref busy, 1) == 1) return;
        try
        {
            var now = Environment.TickCount64;
            var allocated = GC.GetTotalAllocatedBytes();
            if (allocated - lastAllocated >= quietBytes) quietSinceMs = now;
            lastAllocated = allocated;
            if (now - quietSinceMs < quietForMs) return;
            var work = allocatedAtTrim < 0 || allocated - allocatedAtTrim >= WorkBytes;
            if (!work)
            {
                if (now < regrowCheckMs) return;
                regrowCheckMs = now + RegrowWaitMs;
                if (RssKiB(statusBuffer) - rssAfterTrimKiB < RegrowKiB) return;
                regrowCheckMs = now + regrowWaitMs; // a trim for regrowth alone: the next one waits longer
                regrowWaitMs = Math.Min(regrowWaitMs * 2, RegrowWaitMaxMs);
            }
            else
            {
                regrowWaitMs = RegrowWaitMs;
                regrowCheckMs = now + RegrowWaitMs;
            }
            Trim();
            rssAfterTrimKiB = RssKiB(statusBuffer);
            allocatedAtTrim = lastAllocated = GC.GetTotalAllocatedBytes();
        }
        finally
        {
            Volatile.Write(ref busy, 0);
        }
    }

    /// <summary>Trims now: an aggressive collection, then the release of the loaded images' pages.</summary>
    public void Trim()
    {
        var before = RssKiB(statusBuffer);
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        // After the collection, which runs (faults in) GC code and unwind tables; allocates next to nothing.
        ReleaseImages();
        Trims++;
        log?.Invoke($"idle: gave memory back, RSS {before / 1024.0:F1} → {RssKiB(statusBuffer) / 1024.0:F1} MiB");
    }

    /// <summary>
    /// Releases the pages of the loaded ELF images: every mapping of a file that is also mapped executable (the
    /// executable and its libraries; not data files such as the KV's WAL chunks, not the heap). A read-only mapping
    /// with no private (anonymous) page in it, resident or swapped, holds nothing but its file's bytes: MADV_DONTNEED
    /// unmaps it, and a later access maps the file again. Any other image mapping (.data, RELRO: relocated pages are private) gets
    /// MADV_PAGEOUT, which reclaims only what can be read back (clean file pages) or swapped. PAGEOUT alone is not
    /// enough: it skips page-cache folios that are mapped only in part, which here left a third of the executable
    /// resident. Last, the executable's cached pages that are no longer mapped are dropped (POSIX_FADV_DONTNEED), so
    /// that the memory really goes back rather than only out of this process's RSS; shared libraries' cache is left
    /// to the kernel (other processes use it).
    /// </summary>
    private static void ReleaseImages()
    {
        var buffer = new byte[64 << 10];
        var images = new List<byte[]>();
        try
        {
            ForEachLine("/proc/self/maps", buffer, line =>
            {
                if (ParseMapping(line, out _, out _, out var perms, out var path) && perms.Contains((byte)'x') && path[0] == '/' && !Contains(images, path))
                    images.Add(path.ToArray());
            });
            // smaps: each mapping's line, then its "Key: value" lines: Anonymous (private pages resident), later Swap
            // (private pages swapped out). Both must be 0 for MADV_DONTNEED, which would discard private pages.
            ulong start = 0, end = 0;
            bool candidate = false, writable = false, noPrivate = false;
            ForEachLine("/proc/self/smaps", buffer, line =>
            {
                if (ParseMapping(line, out var s, out var e, out var perms, out var path))
                {
                    (start, end) = (s, e);
                    candidate = !perms.Contains((byte)'s') && Contains(images, path);
                    writable = perms.Contains((byte)'w');
                }
                else if (candidate && line.StartsWith("Anonymous:"u8))
                {
                    noPrivate = IsZero(line[10..]);
                }
                else if (candidate && line.StartsWith("Swap:"u8))
                {
                    var advice = !writable && noPrivate && IsZero(line[5..]) ? MadvDontneed : MadvPageout;
                    _ = Libc.Madvise((nint)start, (nuint)(end - start), advice); // PAGEOUT fails (EINVAL) before Linux 5.4: nothing to do
                    candidate = false;
                }
            });
            using var exe = File.OpenHandle("/proc/self/exe");
            _ = Libc.Fadvise(exe.DangerousGetHandle().ToInt32(), 0, 0, FadvDontneed);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // /proc not mounted or not readable: nothing released, nothing lost
        }
    }

    private static bool IsZero(ReadOnlySpan<byte> value) => value.Trim((byte)' ').SequenceEqual("0 kB"u8);

    private static bool Contains(List<byte[]> paths, ReadOnlySpan<byte> path)
    {
        foreach (var p in paths)
            if (path.SequenceEqual(p)) return true;
        return false;
    }

    private delegate void LineAction(ReadOnlySpan<byte> line);

    /// <summary>Calls <paramref name="action"/> on each line of a /proc file, without a string per line.</summary>
    private static void ForEachLine(string file, byte[] buffer, LineAction action)
    {
        using var fs = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        var filled = 0;
        while (true)
        {
            var n = fs.Read(buffer, filled, buffer.Length - filled);
            if (n == 0)
            {
                if (filled > 0) action(buffer.AsSpan(0, filled));
                return;
            }
            filled += n;
            var data = buffer.AsSpan(0, filled);
            int nl;
            while ((nl = data.IndexOf((byte)'\n')) >= 0)
            {
                action(data[..nl]);
                data = data[(nl + 1)..];
            }
            if (data.Length == buffer.Length) data = []; // a line longer than the buffer: not one we need
            data.CopyTo(buffer);
            filled = data.Length;
        }
    }

    /// <summary>A mapping's line, "start-end perms offset dev inode [path]"; false for smaps' "Key: value" lines.</summary>
    private static bool ParseMapping(ReadOnlySpan<byte> line, out ulong start, out ulong end, out ReadOnlySpan<byte> perms, out ReadOnlySpan<byte> path)
    {
        start = end = 0;
        perms = path = default;
        var dash = line.IndexOf((byte)'-');
        var space = line.IndexOf((byte)' ');
        if (dash <= 0 || space < dash || line[space - 1] == (byte)':') return false;
        if (!Utf8Parser.TryParse(line[..dash], out start, out var used, 'x') || used != dash ||
            !Utf8Parser.TryParse(line[(dash + 1)..space], out end, out used, 'x') || used != space - dash - 1) return false;
        var rest = line[(space + 1)..];
        for (var field = 0; field < 5; field++) // perms, offset, dev, inode, then the path (may hold spaces)
        {
            rest = rest.TrimStart((byte)' ');
            var sp = field < 4 ? rest.IndexOf((byte)' ') : rest.Length;
            if (sp < 0) sp = rest.Length;
            if (field == 0) perms = rest[..sp];
            if (field == 4) path = rest.TrimEnd((byte)' ');
            rest = rest[sp..];
        }
        return perms.Length == 4 && !path.IsEmpty;
    }

    /// <summary>VmRSS from /proc/self/status, in KiB (0 if unreadable); parsed in place, allocating nothing per line.</summary>
    private static long RssKiB(byte[] buffer)
    {
        long kib = 0;
        try
        {
            ForEachLine("/proc/self/status", buffer, line =>
            {
                if (line.StartsWith("VmRSS:"u8) && Utf8Parser.TryParse(line[6..].TrimStart(" \t"u8), out long v, out _)) kib = v;
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return kib;
    }

    /// <inheritdoc/>
    public void Dispose() => timer.Dispose();
}
