using System.Runtime.InteropServices;

namespace Tinyo.Node.Linux;

// Network namespaces and zero-copy moves for the port proxy: setns(2), pipe2(2), splice(2) (pidfd_open: Libc.cs).
internal static partial class Libc
{
    internal const int CLONE_NEWNET = 0x40000000;
    internal const int O_RDONLY = 0, O_CLOEXEC = 0x80000, O_NONBLOCK = 0x800;
    internal const uint SPLICE_F_MOVE = 1, SPLICE_F_NONBLOCK = 2;
    internal const int EAGAIN = 11;
    internal const int F_SETPIPE_SZ = 1031;

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    internal static partial int Setns(int fd, int nstype);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    internal static unsafe partial int Pipe2(int* fds, int flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "splice", SetLastError = true)]
    internal static partial nint Splice(int fdIn, nint offIn, int fdOut, nint offOut, nuint len, uint flags);

    /// <summary>A pipe with both ends close-on-exec: (read end, write end) — an exec'd command's output.</summary>
    internal static unsafe (int Read, int Write) Pipe()
    {
        int* fds = stackalloc int[2];
        if (Pipe2(fds, O_CLOEXEC) != 0) throw new IOException($"pipe2: errno {Errno}");
        return (fds[0], fds[1]);
    }
}
