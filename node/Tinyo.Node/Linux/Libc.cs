using System.Runtime.InteropServices;

namespace Tinyo.Node.Linux;

/// <summary>The libc calls of the node daemon.</summary>
internal static unsafe partial class Libc
{
    internal const int PR_SET_CHILD_SUBREAPER = 36;
    internal const int SYS_pidfd_open = 434;
    internal const short POLLIN = 0x1;
    internal const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800;
    internal const int EINTR = 4, ESRCH = 3, EINVAL = 22, ENOENT = 2;
    internal const ulong MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8;
    internal const int MNT_DETACH = 2;

    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "umask")]
    internal static partial uint Umask(uint mask);

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    internal static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, long a1, long a2);

    /// <summary>pidfd_open(2): a descriptor that polls readable once the process has exited (works for any
    /// process, not only children — re-adopted containers are not).</summary>
    internal static int PidfdOpen(int pid) => (int)Syscall(SYS_pidfd_open, pid, 0);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    internal static partial int Poll(PollFd* fds, nuint nfds, int timeout);

    [LibraryImport("libc", EntryPoint = "gettid")]
    internal static partial int Gettid();

    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    internal static partial int Setpriority(int which, int who, int prio);

    [LibraryImport("libc", EntryPoint = "inotify_init1", SetLastError = true)]
    internal static partial int InotifyInit1(int flags);

    [LibraryImport("libc", EntryPoint = "inotify_add_watch", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int InotifyAddWatch(int fd, string path, uint mask);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    internal static partial int EventFd(uint initval, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    internal static partial nint Read(int fd, void* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    internal static partial nint Write(int fd, void* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Mount(string source, string target, string fstype, ulong flags, string? data);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Umount2(string target, int flags);

    /// <summary>errno of the last call made with SetLastError.</summary>
    internal static int Errno => Marshal.GetLastPInvokeError();

    /// <summary>strerror text for <paramref name="errno"/>.</summary>
    internal static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
