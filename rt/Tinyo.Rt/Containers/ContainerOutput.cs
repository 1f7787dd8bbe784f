using Tinyo.Rt.Processes;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Containers;

/// <summary>
/// Where a detached image container's stdout and stderr go: a FIFO (<c>containers/ID/log.pipe</c>) relayed by the
/// root's exit monitor into the size-capped <c>container.log</c> (<see cref="LogRelay"/>), so the log's bound holds
/// exactly and a flood meets back-pressure instead of a full disk.
/// </summary>
/// <remarks>
/// The container's end is the FIFO opened O_RDWR: the container counts as a reader of its own pipe, so its writes
/// never raise SIGPIPE whatever happens to the relay (a monitor that dies makes the container's writes block once
/// the pipe is full, until a new monitor adopts the FIFO — <see cref="ExitMonitor"/>). When no monitor can be had
/// (<c>TINYO_EXIT_MONITOR=0</c>, or it did not answer) the container falls back to writing its own O_APPEND log
/// file, uncapped by the runtime, and the caller is warned.
/// </remarks>
internal static class ContainerOutput
{
    private const int O_APPEND = 0x400;

    /// <summary>
    /// Makes the FIFO of container <paramref name="id"/> (in <paramref name="dir"/>), hands its read end to the
    /// monitor and returns the descriptor to give the container as stdout and stderr (the caller closes it once the
    /// container runs). Falls back to the plain log file when no monitor takes the relay.
    /// </summary>
    public static int Open(RuntimeRoot root, string[] monitorCommand, string dir, string id, long maxBytes, Action<string>? warn)
    {
        var logFile = Path.Combine(dir, ImageContainers.LogName);
        // The relay creates the file at the first byte; a container that never writes still has a (empty) log.
        int made = SysOpen(logFile, OFlag.WrOnly | OFlag.Creat | OFlag.Cloexec | O_APPEND, 0x1A0 /* 0640 */);
        if (made < 0) throw Error("creating log file", logFile);
        SysClose(made);
        var fifo = Path.Combine(dir, LogRelay.FifoName);
        SysUnlink(fifo); // a restart in place: the old relay drains the old FIFO; the new one is a new file
        if (SysMkfifo(fifo, 0x180 /* 0600 */) != 0) throw Error("creating the log pipe", fifo);
        int r = -1, w = -1;
        bool ok = false;
        try
        {
            // The read end first (O_NONBLOCK: no writer yet), then the container's O_RDWR end.
            r = SysOpen(fifo, OFlag.RdOnly | OFlag.NonBlock | OFlag.Cloexec, 0);
            if (r < 0) throw Error("opening the log pipe", fifo);
            w = SysOpen(fifo, OFlag.RdWr | OFlag.Cloexec, 0);
            if (w < 0) throw Error("opening the log pipe", fifo);
            var err = ExitMonitor.RelayLog(root, monitorCommand, id, r, maxBytes);
            if (err is null)
            {
                ok = true;
                return w;
            }
            warn?.Invoke($"container {id}: its log is not capped (no relay: {err})");
        }
        finally
        {
            if (r >= 0) SysClose(r);
            if (!ok)
            {
                if (w >= 0) SysClose(w);
                SysUnlink(fifo);
            }
        }
        int log = SysOpen(logFile, OFlag.WrOnly | OFlag.Creat | OFlag.Cloexec | O_APPEND, 0x1A0 /* 0640 */);
        if (log < 0) throw Error("opening log file", logFile);
        return log;
    }
}
