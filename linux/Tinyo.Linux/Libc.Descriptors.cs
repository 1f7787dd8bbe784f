using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// File descriptors as the container code uses them: path resolution confined to a root (openat2), device nodes,
// FIFOs, sockets for the parent/init handshake. Names carry an "Fd"/"Sys" flavour so they do not collide with the
// image store's Libc.Files.cs, which wraps several of the same calls for its own use.
internal static unsafe partial class Libc
{
    public static class OFlag
    {
        public const int RdOnly = 0, WrOnly = 1, RdWr = 2, Creat = 0x40, Excl = 0x80, NoCtty = 0x100,
            Trunc = 0x200, NonBlock = 0x800, Directory = 0x10000, NoFollow = 0x20000, Cloexec = 0x80000,
            Path = 0x200000;
    }

    public static class Resolve
    {
        public const ulong NoXdev = 0x01, NoMagicLinks = 0x02, NoSymlinks = 0x04, Beneath = 0x08, InRoot = 0x10;
    }

    public static class Errno_
    {
        public const int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EAGAIN = 11, EBUSY = 16, EEXIST = 17,
            ENOTDIR = 20, EINVAL = 22, ENXIO = 6, ECHILD = 10, ENOSYS = 38;
    }

    public const int AT_FDCWD_ = -100, AT_EMPTY_PATH_ = 0x1000, AT_SYMLINK_NOFOLLOW_ = 0x100, AT_REMOVEDIR_ = 0x200;
    public const int F_GETFD = 1, F_SETFD = 2, FD_CLOEXEC = 1, F_DUPFD_CLOEXEC = 1030, F_ADD_SEALS = 1033,
        F_SEAL_SEAL = 1, F_SEAL_SHRINK = 2, F_SEAL_GROW = 4, F_SEAL_WRITE = 8;
    public const int AF_UNIX = 1, AF_INET = 2, SOCK_DGRAM = 2, SOCK_SEQPACKET = 5, SOCK_CLOEXEC = 0x80000;
    public const uint MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2;

    /// <summary>struct open_how for openat2(2).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct OpenHowArgs { public ulong Flags, Mode, Resolve; }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall_openat2_(long nr, int dirfd, string path, OpenHowArgs* how, nuint size);

    /// <summary>openat2(2) with <paramref name="resolve"/> flags; returns the fd or -1.</summary>
    public static int SysOpenAt2(int dirfd, string path, int flags, ulong resolve, uint mode = 0)
    {
        var how = new OpenHowArgs { Flags = (ulong)(uint)flags, Mode = mode, Resolve = resolve };
        while (true)
        {
            int fd = (int)syscall_openat2_(SYS_openat2, dirfd, path, &how, (nuint)sizeof(OpenHowArgs));
            if (fd >= 0 || Errno != 11 /* EAGAIN: a concurrent rename, retry */) return fd;
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SysOpen(string path, int flags, uint mode);

    // The *at calls below take a string for cold paths; the imports are the byte* ones of Libc.Files.cs.
    public static int SysOpenAt(int dirfd, string path, int flags, uint mode)
    {
        fixed (byte* p = Utf8z(path)) return openat_(dirfd, p, flags, mode);
    }

    // No SetLastError, on purpose: close is the cleanup call between a failing call and the read of its errno
    // (`fd = openat2(root, …); close(root); if (fd < 0) … Errno`), and a successful close must not reset it to 0.
    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int SysClose(int fd);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint SysRead(int fd, byte* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint SysWrite(int fd, byte* buf, nuint count);

    public static int SysMkdirAt(int dirfd, string path, uint mode)
    {
        fixed (byte* p = Utf8z(path)) return mkdirat_(dirfd, p, mode);
    }

    public static int SysMknodAt(int dirfd, string path, uint mode, ulong dev)
    {
        fixed (byte* p = Utf8z(path)) return mknodat_(dirfd, p, mode, dev);
    }

    public static int SysSymlinkAt(string target, int dirfd, string path)
    {
        fixed (byte* t = Utf8z(target))
        fixed (byte* p = Utf8z(path)) return symlinkat_(t, dirfd, p);
    }

    public static int SysFchmodAt(int dirfd, string path, uint mode, int flags)
    {
        fixed (byte* p = Utf8z(path)) return fchmodat_(dirfd, p, mode, flags);
    }

    public static int SysFchownAt(int dirfd, string path, uint uid, uint gid, int flags)
    {
        fixed (byte* p = Utf8z(path)) return fchownat_(dirfd, p, uid, gid, flags);
    }

    [LibraryImport("libc", EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SysMkfifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SysAccess(string path, int mode);

    [LibraryImport("libc", EntryPoint = "fchdir", SetLastError = true)]
    public static partial int SysFchdir(int fd);

    [LibraryImport("libc", EntryPoint = "chdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SysChdir(string path);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int SysFcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    public static partial int SysSocketpair(int domain, int type, int protocol, int* sv);

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int SysSocket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int SysIoctl(int fd, ulong request, void* arg);

    [LibraryImport("libc", EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SysMemfdCreate(string name, uint flags);

    [LibraryImport("libc", EntryPoint = "sendfile", SetLastError = true)]
    public static partial nint SysSendfile(int outFd, int inFd, long* offset, nuint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int SysPoll(PollFd* fds, nuint nfds, int timeout);

    /// <summary>struct pollfd.</summary>
    public struct PollFd { public int Fd; public short Events, Revents; }
    public const short POLLIN = 1, POLLHUP = 0x10;

    /// <summary>Writes all of <paramref name="data"/> (retrying on EINTR); false on error.</summary>
    public static bool SysWriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            nuint off = 0;
            while (off < (nuint)data.Length)
            {
                nint n = SysWrite(fd, p + off, (nuint)data.Length - off);
                if (n < 0) { if (Errno == Errno_.EINTR) continue; return false; }
                off += (nuint)n;
            }
        }
        return true;
    }

    /// <summary>Reads one message (SOCK_SEQPACKET) or chunk into <paramref name="buf"/>, retrying on EINTR.</summary>
    public static int SysReadRetry(int fd, Span<byte> buf)
    {
        fixed (byte* p = buf)
            while (true)
            {
                nint n = SysRead(fd, p, (nuint)buf.Length);
                if (n < 0 && Errno == Errno_.EINTR) continue;
                return (int)n;
            }
    }

    /// <summary>makedev(3).</summary>
    public static ulong Makedev(ulong major, ulong minor) =>
        ((major & 0xfffff000UL) << 32) | ((major & 0xfffUL) << 8) | ((minor & 0xffffff00UL) << 12) | (minor & 0xffUL);
}
