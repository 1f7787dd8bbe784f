using Tinyo.Linux;

namespace Tinyo.Rt.Network.Direct;

/// <summary>
/// A pipe from one container's stdout to another's stdin (<c>stdin: {from: producer}</c>): the node makes it, passes
/// <see cref="WriteFd"/> as the producer's stdout and <see cref="ReadFd"/> as the consumer's stdin
/// (<see cref="Containers.ContainerRuntime.WithStdio"/>), and keeps both ends open for as long as both apps exist.
/// </summary>
/// <remarks>
/// Restarts, as far as pipes can: because the node holds the write end, the consumer never reads end-of-file while
/// the producer restarts (it waits), and a restarted producer writes into the same pipe; because the node holds the
/// read end, a producer never gets SIGPIPE while the consumer restarts (it blocks once the buffer is full), and the
/// restarted consumer reads what was buffered. What pipes cannot do: a record half-written when the producer died
/// stays half in the pipe, and bytes a consumer had read but not handled when it died are gone — a pipe has no
/// acknowledgements. Both sides must be on one node (the statefile's pipe is a placement constraint).
/// </remarks>
public sealed class ContainerPipe : IDisposable
{
    /// <summary>The pipe's buffer: 1 MiB, so a producer is not held up by every short pause of the consumer.</summary>
    public const int Capacity = 1 << 20;

    private ContainerPipe(int read, int write)
    {
        ReadFd = read;
        WriteFd = write;
    }

    /// <summary>The read end: the consumer's stdin. Close-on-exec in the node (the runtime dup2s it into the container).</summary>
    public int ReadFd { get; private set; }

    /// <summary>The write end: the producer's stdout.</summary>
    public int WriteFd { get; private set; }

    /// <summary>Makes the pipe with a <see cref="Capacity"/> buffer (or the system's maximum, if lower).</summary>
    public static unsafe ContainerPipe Create()
    {
        int* fds = stackalloc int[2];
        if (Libc.SysPipe2(fds, Libc.O_CLOEXEC) != 0) throw Libc.Error("making the pipe between two containers (pipe2)");
        // Best effort: /proc/sys/fs/pipe-max-size may be lower for a non-root node; the default 64 KiB still works.
        Libc.SysFcntl(fds[1], Libc.F_SETPIPE_SZ, Capacity);
        return new ContainerPipe(fds[0], fds[1]);
    }

    /// <summary>Closes both ends (the node's copies; containers keep theirs until they exit).</summary>
    public void Dispose()
    {
        if (ReadFd >= 0) Libc.SysClose(ReadFd);
        if (WriteFd >= 0) Libc.SysClose(WriteFd);
        ReadFd = WriteFd = -1;
    }
}
