using System.Runtime.InteropServices;

namespace Tinyo.Node.Linux;

// Network namespaces and zero-copy moves for the port proxy: setns(2), pidfd_open(2), pipe2(2), splice(2).
internal static partial class Libc
{
    internal const int CLONE_NEWNET = 0x40000000;
    internal const int O_RDONLY = 0, O_CLOEXEC = 0x80000, O_NONBLOCK = 0x800;
    internal const uint SPLICE_F_MOVE = 1, SPLICE_F_NONBLOCK = 2;
    internal const int EINTR = 4, EAGAIN = 11, ESRCH = 3;
    internal const int F_SETPIPE_SZ = 1031;
    private const long SYS_pidfd_open = 434;

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    internal static partial int Setns(int fd, int nstype);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall2(long nr, long a0, long a1);

    /// <summary>pidfd_open(2): a descriptor that pins <paramref name="pid"/> (no pid-reuse race); setns accepts it.</summary>
    internal static int PidfdOpen(int pid) => (int)Syscall2(SYS_pidfd_open, pid, 0);

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    internal static unsafe partial int Pipe2(int* fds, int flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "splice", SetLastError = true)]
    internal static partial nint Splice(int fdIn, nint offIn, int fdOut, nint offOut, nuint len, uint flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    internal static unsafe partial nint Read(int fd, byte* buf, nuint count);

    /// <summary>The errno of the last failed call.</summary>
    internal static int Errno => Marshal.GetLastPInvokeError();
}
