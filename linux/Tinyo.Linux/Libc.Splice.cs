using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// Zero-copy moves for the node's port proxy: splice(2) through a pipe; and pipes for an exec'd command's output.
internal static unsafe partial class Libc
{
    public const int O_NONBLOCK = 0x800;
    public const uint SPLICE_F_MOVE = 1, SPLICE_F_NONBLOCK = 2;
    public const int F_SETPIPE_SZ = 1031;

    [LibraryImport("libc", EntryPoint = "splice", SetLastError = true)]
    public static partial nint Splice(int fdIn, nint offIn, int fdOut, nint offOut, nuint len, uint flags);

    /// <summary>A pipe with both ends close-on-exec: (read end, write end) — an exec'd command's output.</summary>
    public static (int Read, int Write) Pipe()
    {
        int* fds = stackalloc int[2];
        if (SysPipe2(fds, O_CLOEXEC) != 0) throw new IOException($"pipe2: errno {Errno}");
        return (fds[0], fds[1]);
    }
}
