using System.Buffers;
using System.Runtime.CompilerServices;
using Tinyo.Linux;

namespace Tinyo.Node.Logs;

/// <summary>
/// A container's log file (<c>ROOT/containers/ID/container.log</c>): reading (tail, follow), and the cap of a log
/// that is not relayed.
/// </summary>
/// <remarks>
/// <para>A detached container's output reaches its log through the runtime root's exit monitor
/// (Tinyo.Rt's <c>LogRelay</c>): the relay is the file's only writer, holds it and its rotated <c>.1</c> each to
/// the cap, rotates by rename, and a writer faster than the disk meets back-pressure. So the files are never over
/// the cap and nothing is lost between them; <see cref="Tail"/> joins the two, <see cref="FollowAsync"/> follows
/// the rename.</para>
/// <para>When no relay could be had (the monitor turned off), the container writes its own O_APPEND file and
/// <see cref="EnforceCap"/> (the reconciler's periodic sweep) rotates it by copy-then-truncate: the content is
/// copied to <c>.1</c>, then the file truncated (O_APPEND makes the next write land at 0). That path loses what is
/// written between the copy and the truncate, and the bound holds only at each sweep.</para>
/// </remarks>
public static class ContainerLogs
{
    /// <summary>The default per-container cap: 10 MiB (plus one rotated file of the same size).</summary>
    public const long DefaultMaxBytes = 10L << 20;

    /// <summary>The rotated file next to <paramref name="logPath"/>.</summary>
    public static string Rotated(string logPath) => logPath + ".1";

    /// <summary>
    /// Rotates <paramref name="logPath"/> when it is larger than <paramref name="maxBytes"/>: copies its last
    /// <paramref name="maxBytes"/>/2 bytes (from the first line that starts in them; the raw bytes when none does)
    /// to <c>.1</c>, then truncates it to 0. Returns true when it rotated. A missing file is fine (false).
    /// </summary>
    public static bool EnforceCap(string logPath, long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        FileStream src;
        try
        {
            src = new FileStream(logPath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
        using (src)
        {
            if (src.Length <= maxBytes) return false;
            var rotated = Rotated(logPath);
            var tmp = rotated + ".tmp";
            using (var dst = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                // Only what is there now; the container keeps appending meanwhile (that tail is the window above).
                long end = src.Length;
                var buf = ArrayPool<byte>.Shared.Rent(1 << 16);
                try
                {
                    src.Position = KeepFrom(src, end, maxBytes / 2, buf);
                    long n = end - src.Position;
                    while (n > 0)
                    {
                        int r = src.Read(buf, 0, (int)Math.Min(buf.Length, n));
                        if (r <= 0) break;
                        dst.Write(buf, 0, r);
                        n -= r;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buf);
                }
            }
            if (OperatingSystem.IsLinux()) File.SetUnixFileMode(tmp, (UnixFileMode)0x1A0); // 0640, as the log
            File.Move(tmp, rotated, overwrite: true);
            src.SetLength(0);
            return true;
        }
    }

    /// <summary>Where the newest <paramref name="keep"/> bytes of the first <paramref name="end"/> start, moved forward to a line start.</summary>
    private static long KeepFrom(FileStream f, long end, long keep, byte[] buf)
    {
        long from = Math.Max(0, end - keep);
        if (from == 0) return 0;
        f.Position = from - 1; // a line starts at from when the byte before it ends one
        long pos = from - 1;
        while (pos < end)
        {
            int r = f.Read(buf, 0, (int)Math.Min(buf.Length, end - pos));
            if (r <= 0) break;
            int nl = Array.IndexOf(buf, (byte)'\n', 0, r);
            if (nl >= 0) return pos + nl + 1 < end ? pos + nl + 1 : from;
            pos += r;
        }
        return from; // no line starts in the kept part: keep the raw bytes
    }

    /// <summary>
    /// The last <paramref name="lines"/> lines of <paramref name="logPath"/> (all of it when null), and the offset
    /// just after them, where a follower continues. Reads backwards in blocks: a large file costs only its tail.
    /// When the current file holds fewer lines than asked, the rotated <c>.1</c> file supplies the rest.
    /// </summary>
    public static (byte[] Data, long Offset) Tail(string logPath, int? lines)
    {
        if (lines is < 0) throw new ArgumentOutOfRangeException(nameof(lines));
        using var f = OpenRead(logPath);
        long end = f?.Length ?? 0;
        if (lines is null)
        {
            var all = new byte[end];
            if (f is not null) f.ReadExactly(all);
            return (all, end);
        }
        var (start, found) = f is null ? (0L, 0) : FindTailStart(f, end, lines.Value);
        var data = new byte[end - start];
        if (f is not null)
        {
            f.Position = start;
            f.ReadExactly(data);
        }
        if (found < lines.Value && start == 0)
        {
            // Not enough lines since the last rotation: take the rest from the rotated file.
            using var old = OpenRead(Rotated(logPath));
            if (old is not null && old.Length > 0)
            {
                var (s2, _) = FindTailStart(old, old.Length, lines.Value - found);
                var prev = new byte[old.Length - s2];
                old.Position = s2;
                old.ReadExactly(prev);
                if (prev.Length > 0 && prev[^1] != (byte)'\n') prev = [.. prev, (byte)'\n'];
                data = [.. prev, .. data];
            }
        }
        return (data, end);
    }

    /// <summary>Where the last <paramref name="lines"/> lines of the first <paramref name="end"/> bytes start, and how many lines that is.</summary>
    private static (long Start, int Found) FindTailStart(FileStream f, long end, int lines)
    {
        if (lines == 0) return (end, 0);
        var buf = ArrayPool<byte>.Shared.Rent(8192);
        try
        {
            // A final line without its newline counts as a line; the newline that ends the last line does not start one.
            long pos = end;
            int newlines = 0;
            bool skipLast = true;
            while (pos > 0)
            {
                int n = (int)Math.Min(buf.Length, pos);
                pos -= n;
                f.Position = pos;
                f.ReadExactly(buf, 0, n);
                for (int i = n - 1; i >= 0; i--)
                {
                    if (buf[i] != (byte)'\n') { skipLast = false; continue; }
                    if (skipLast && pos + i == end - 1) { skipLast = false; continue; }
                    if (++newlines == lines) return (pos + i + 1, lines);
                }
            }
            return (0, end == 0 ? 0 : newlines + 1);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    /// <summary>
    /// Follows <paramref name="logPath"/> from <paramref name="offset"/>: yields new bytes as they are appended,
    /// polling every <paramref name="poll"/> (logs are human-speed; inotify would save little and adds a watch per
    /// follower). The file stays open between polls, so a rotation by rename (the log relay's: the path names a new
    /// file) loses nothing: the old file is read to its end, then the new one from 0. A truncation (a fallback log
    /// rotated by <see cref="EnforceCap"/>: the file shorter than the position) restarts at 0. A file that
    /// disappears (container removed) ends the stream once <paramref name="stillThere"/> says so.
    /// </summary>
    public static async IAsyncEnumerable<ReadOnlyMemory<byte>> FollowAsync(string logPath, long offset, TimeSpan poll,
        Func<bool>? stillThere = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var buf = new byte[64 * 1024];
        long pos = offset;
        var f = OpenRead(logPath);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                bool any = false;
                f ??= OpenRead(logPath);
                if (f is not null)
                {
                    if (f.Length < pos) pos = 0; // truncated: the new content starts at 0
                    f.Position = pos;
                    int n;
                    while ((n = await f.ReadAsync(buf, ct).ConfigureAwait(false)) > 0)
                    {
                        pos += n;
                        any = true;
                        yield return buf.AsMemory(0, n);
                    }
                    if (!any && !NamesSameFile(f, logPath))
                    {
                        // Rotated: what was written before the rename is still to be read, then the new file from 0.
                        while ((n = await f.ReadAsync(buf, ct).ConfigureAwait(false)) > 0) yield return buf.AsMemory(0, n);
                        await f.DisposeAsync().ConfigureAwait(false);
                        f = OpenRead(logPath);
                        pos = 0;
                        continue;
                    }
                }
                if (!any)
                {
                    if (stillThere is not null && !stillThere()) yield break;
                    if (f is null && stillThere is null) yield break;
                    try
                    {
                        await Task.Delay(poll, ct).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        yield break;
                    }
                }
            }
        }
        finally
        {
            if (f is not null) await f.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Whether <paramref name="path"/> still names the file open in <paramref name="f"/> (same inode).</summary>
    private static bool NamesSameFile(FileStream f, string path)
    {
        if (Libc.StatxAt((int)f.SafeFileHandle.DangerousGetHandle(), "\0"u8, Libc.AT_EMPTY_PATH_, out var open) != 0) return true;
        if (Libc.StatxAt(Libc.AT_FDCWD_, System.Text.Encoding.UTF8.GetBytes(path + "\0"), 0, out var named) != 0) return false;
        return open.Ino == named.Ino && open.DevMajor == named.DevMajor && open.DevMinor == named.DevMinor;
    }

    private static FileStream? OpenRead(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }
}
