using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// The node's container watcher: an eventfd to wake its poll(2) over pidfds (pidfd_open: Libc.Exec.cs).
internal static unsafe partial class Libc
{
    public const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800;

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initval, int flags);

    /// <summary>poll(2) (<see cref="SysPoll"/>), as the node spells it.</summary>
    public static int Poll(PollFd* fds, nuint nfds, int timeout) => SysPoll(fds, nfds, timeout);

    /// <summary>read(2) into any buffer (<see cref="SysRead"/>).</summary>
    public static nint Read(int fd, void* buf, nuint count) => SysRead(fd, (byte*)buf, count);

    /// <summary>write(2) from any buffer (<see cref="SysWrite"/>).</summary>
    public static nint Write(int fd, void* buf, nuint count) => SysWrite(fd, (byte*)buf, count);
}
