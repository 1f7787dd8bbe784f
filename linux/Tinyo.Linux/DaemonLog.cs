using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Tinyo.Linux;

/// <summary>
/// A daemon's stderr (or stdout) that never throws: lines that cannot be written (a full disk under the log file,
/// a closed pipe) are dropped and counted, and the next line that can be written is preceded by one notice saying
/// how many were lost and why. Installed with <see cref="Console.SetError"/> by <c>tinyokv serve</c> and
/// <c>tinyonode serve</c>.
/// </summary>
/// <remarks>
/// The console's own writer throws <see cref="IOException"/> on ENOSPC, from whatever thread logs: a log line then
/// ended the daemon (tinyonode aborted on an unhandled exception, tinyokv exited 70) on the very disk-full condition
/// it should have reported. Writes go straight to the descriptor with write(2), one whole line (or several) per
/// call, so lines from different threads never interleave inside a line.
/// </remarks>
public sealed class DaemonLog : TextWriter
{
    private readonly int fd;
    private readonly string name;
    private readonly StringBuilder pending = new();
    private readonly Lock gate = new();
    private long dropped, droppedTotal;
    private string? cause;

    /// <summary>A writer on descriptor <paramref name="fd"/> (not closed by it); <paramref name="name"/> starts the notice.</summary>
    public DaemonLog(int fd, string name)
    {
        this.fd = fd;
        this.name = name;
    }

    /// <inheritdoc/>
    public override Encoding Encoding => Encoding.UTF8;

    /// <summary>Lines dropped since the process started.</summary>
    public long Dropped
    {
        get
        {
            lock (gate) return droppedTotal;
        }
    }

    /// <inheritdoc/>
    public override void Write(char value)
    {
        lock (gate)
        {
            pending.Append(value);
            if (value == '\n') WritePending();
        }
    }

    /// <inheritdoc/>
    public override void Write(string? value)
    {
        if (string.IsNullOrEmpty(value)) return;
        lock (gate)
        {
            pending.Append(value);
            if (value.EndsWith('\n')) WritePending();
        }
    }

    /// <inheritdoc/>
    public override void Write(char[] buffer, int index, int count)
    {
        lock (gate)
        {
            pending.Append(buffer, index, count);
            if (count > 0 && buffer[index + count - 1] == '\n') WritePending();
        }
    }

    /// <inheritdoc/>
    public override void WriteLine(string? value)
    {
        lock (gate)
        {
            pending.Append(value).Append('\n');
            WritePending();
        }
    }

    /// <inheritdoc/>
    public override void WriteLine()
    {
        lock (gate)
        {
            pending.Append('\n');
            WritePending();
        }
    }

    /// <inheritdoc/>
    public override void Flush()
    {
        lock (gate)
        {
            if (pending.Length > 0) WritePending();
        }
    }

    private void WritePending()
    {
        var text = pending.ToString();
        pending.Clear();
        if (dropped > 0)
        {
            var notice = string.Create(CultureInfo.InvariantCulture,
                $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {name}: {dropped} log line{(dropped == 1 ? "" : "s")} dropped while the log could not be written ({cause})\n");
            if (!TryWrite(notice))
            {
                Drop(text);
                return;
            }
            dropped = 0;
        }
        if (!TryWrite(text)) Drop(text);
    }

    private void Drop(string text)
    {
        long lines = Math.Max(1, text.AsSpan().Count('\n'));
        dropped += lines;
        droppedTotal += lines;
    }

    private unsafe bool TryWrite(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        fixed (byte* p = bytes)
        {
            int done = 0;
            while (done < bytes.Length)
            {
                var n = Libc.SysWrite(fd, p + done, (nuint)(bytes.Length - done));
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == 4) continue; // EINTR
                    cause = Marshal.GetPInvokeErrorMessage(errno).ToLowerInvariant();
                    return false;
                }
                if (n == 0) return false;
                done += (int)n;
            }
        }
        return true;
    }
}
