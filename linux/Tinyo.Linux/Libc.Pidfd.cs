using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// Exit status through a pidfd (PIDFD_GET_INFO, Linux ≥ 6.15) and the socket/epoll calls of the per-root exit monitor.
internal static unsafe partial class Libc
{
    /// <summary>
    /// <c>PIDFD_GET_INFO</c> = <c>_IOWR(0xFF, 11, struct pidfd_info)</c> with the first published size (64 bytes,
    /// <c>PIDFD_INFO_SIZE_VER0</c>): the kernel dispatches on the number and copies min(our size, its size).
    /// </summary>
    public const ulong PIDFD_GET_INFO = 0xC040FF0B;
    /// <summary>Mask bits of <see cref="PidfdInfo.Mask"/>: request/answer the exit status (6.15).</summary>
    public const ulong PIDFD_INFO_EXIT = 1UL << 3;
    public const int ENOTTY = 25, EOPNOTSUPP = 95, ECONNREFUSED = 111, EADDRINUSE = 98;

    /// <summary>struct pidfd_info as of Linux 6.15 (VER0 layout: <c>exit_code</c> took the first spare word).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    public struct PidfdInfo
    {
        [FieldOffset(0)] public ulong Mask;
        [FieldOffset(8)] public ulong CgroupId;
        [FieldOffset(16)] public uint Pid;
        /// <summary>The wait status (as waitpid reports it) once the process has been reaped.</summary>
        [FieldOffset(60)] public int ExitCode;
    }

    /// <summary>ioctl(pidfd, PIDFD_GET_INFO, info).</summary>
    public static int PidfdGetInfo(int pidfd, PidfdInfo* info) => SysIoctl(pidfd, PIDFD_GET_INFO, info);

    public const int P_PIDFD = 3, WEXITED = 4, WNOWAIT = 0x1000000;

    [LibraryImport("libc", EntryPoint = "waitid", SetLastError = true)]
    private static partial int waitid_(int idtype, uint id, void* info, int options);

    /// <summary>
    /// Whether the process behind <paramref name="pidfd"/> is our own child that has exited and waits to be reaped
    /// (waitid P_PIDFD with WNOWAIT: nothing is consumed). False for a running child and for anyone else's process.
    /// </summary>
    public static bool IsOwnExitedChild(int pidfd)
    {
        byte* si = stackalloc byte[128]; // siginfo_t
        new Span<byte>(si, 128).Clear();
        if (waitid_(P_PIDFD, (uint)pidfd, si, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
        return *(int*)(si + 16) != 0; // si_pid: 0 when no child has changed state yet
    }

    /// <summary>
    /// Blocks until our child <paramref name="pid"/> has exited, without reaping it (waitid P_PID with WNOWAIT), so
    /// whoever collects exits (the runtime's CollectExit) still finds its status. 0, or -1 with errno (EINTR retried).
    /// </summary>
    public static int WaitExitedNoReap(int pid)
    {
        byte* si = stackalloc byte[128]; // siginfo_t
        int r;
        while ((r = waitid_(1 /* P_PID */, (uint)pid, si, WEXITED | WNOWAIT)) != 0 && Marshal.GetLastPInvokeError() == 4 /* EINTR */) { }
        return r;
    }

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    public static partial int SysBind(int fd, void* addr, uint len);

    [LibraryImport("libc", EntryPoint = "listen", SetLastError = true)]
    public static partial int SysListen(int fd, int backlog);

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    public static partial int SysAccept4(int fd, void* addr, void* len, int flags);

    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SysUnlink(string path);

    public const int SOCK_NONBLOCK = 0x800, SO_RCVTIMEO = 20, SO_SNDTIMEO = 21;

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollCtl(int epfd, int op, int fd, EpollEvent* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epfd, EpollEvent* events, int max, int timeout);

    public const int EPOLL_CLOEXEC = 0x80000, EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2;
    public const uint EPOLLIN = 1, EPOLLHUP = 0x10, EPOLLERR = 8;

    /// <summary>struct epoll_event (packed on x86-64: 12 bytes).</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct EpollEvent { public uint Events; public ulong Data; }

    /// <summary>
    /// Fills a sockaddr_un for <paramref name="path"/>; a path too long for sun_path (108 bytes) is reached through
    /// <c>/proc/self/fd/DIRFD/NAME</c> of its directory, opened into <paramref name="dirFd"/> (the caller closes it).
    /// Returns the address length, or -1 with errno set.
    /// </summary>
    public static int UnixAddress(string path, SockaddrUn* addr, out int dirFd)
    {
        dirFd = -1;
        var b = System.Text.Encoding.UTF8.GetBytes(path);
        if (b.Length >= 108)
        {
            dirFd = SysOpen(Path.GetDirectoryName(path)!, OFlag.Path | OFlag.Directory | OFlag.Cloexec, 0);
            if (dirFd < 0) return -1;
            b = System.Text.Encoding.UTF8.GetBytes($"/proc/self/fd/{dirFd}/{Path.GetFileName(path)}");
            if (b.Length >= 108) { Marshal.SetLastPInvokeError(36 /* ENAMETOOLONG */); return -1; }
        }
        addr->Family = AF_UNIX;
        for (int i = 0; i < b.Length; i++) addr->Path[i] = b[i];
        addr->Path[b.Length] = 0;
        return 2 + b.Length + 1;
    }

    /// <summary>Sets SO_RCVTIMEO and SO_SNDTIMEO of a socket to <paramref name="ms"/> milliseconds.</summary>
    public static void SetSocketTimeouts(int fd, int ms)
    {
        long* tv = stackalloc long[2] { ms / 1000, ms % 1000 * 1000 };
        SysSetsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
        SysSetsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, 16);
    }
}
