using System.Runtime.InteropServices;
using static Tinyo.Linux.Libc.FileSys;

namespace Tinyo.Linux;

// File-system calls, all relative to directory file descriptors (the *at family), so that code extracting untrusted
// content never hands the kernel a full path it has not resolved itself. Paths are NUL-terminated UTF-8 spans the
// caller encodes once (stackalloc or a reused buffer): no marshalling, no allocation per call.
internal static unsafe partial class Libc
{
    /// <summary>
    /// Constants of the file-system calls below, in their C spelling. Nested so that other files of this partial class
    /// (locks, namespaces, mounts) can declare the few they need without colliding; use with
    /// <c>using static Tinyo.Linux.Libc.FileSys;</c>.
    /// </summary>
    public static class FileSys
    {
        public const int AT_FDCWD = -100;
        public const int AT_SYMLINK_NOFOLLOW = 0x100;
        public const int AT_REMOVEDIR = 0x200;
        public const int AT_EMPTY_PATH = 0x1000;

        public const int O_RDONLY = 0;
        public const int O_WRONLY = 1;
        public const int O_CREAT = 0x40;
        public const int O_EXCL = 0x80;
        public const int O_DIRECTORY = 0x10000;
        public const int O_NOFOLLOW = 0x20000;
        public const int O_CLOEXEC = 0x80000;
        public const int O_PATH = 0x200000;

        public const uint S_IFMT = 0xF000;
        public const uint S_IFIFO = 0x1000;
        public const uint S_IFCHR = 0x2000;
        public const uint S_IFDIR = 0x4000;
        public const uint S_IFBLK = 0x6000;
        public const uint S_IFREG = 0x8000;
        public const uint S_IFLNK = 0xA000;

        public const int EPERM = 1;
        public const int ENOENT = 2;
        public const int EINTR = 4;
        public const int EAGAIN = 11;
        public const int EEXIST = 17;
        public const int ENOTDIR = 20;
        public const int EISDIR = 21;
        public const int EINVAL = 22;
        public const int ENAMETOOLONG = 36;
        public const int ENOSYS = 38;
        public const int ENOTEMPTY = 39;
        public const int ELOOP = 40;
        public const int ENODATA = 61;
        public const int EOPNOTSUPP = 95;
        public const int EXDEV = 18;
        public const int E2BIG = 7;

        /// <summary><c>openat2</c> resolve flags (linux/openat2.h).</summary>
        public const ulong RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04,
            RESOLVE_BENEATH = 0x08, RESOLVE_IN_ROOT = 0x10;

        public const uint RENAME_NOREPLACE = 1;

        public const uint STATX_BASIC_STATS = 0x7FF;
        public const byte DT_UNKNOWN = 0, DT_DIR = 4;
    }

    // x86_64 syscall numbers of calls glibc 2.36 has no wrapper for.
    private const long NR_openat2 = 437;
    private const long NR_setxattrat = 463;

    /// <summary>struct open_how (linux/openat2.h).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    /// <summary>struct xattr_args (linux/xattr.h), the argument block of setxattrat(2).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct XattrArgs
    {
        public ulong Value;
        public uint Size;
        public uint Flags;
    }

    /// <summary>struct timespec.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Sec;
        public long Nsec;
    }

    /// <summary>struct statx_timestamp.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct StatxTimestamp
    {
        public long Sec;
        public uint Nsec;
        private int _reserved;
    }

    /// <summary>struct statx (linux/stat.h); 256 bytes, the same layout on every architecture.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 256)]
    public struct Statx
    {
        public uint Mask;
        public uint BlkSize;
        public ulong Attributes;
        public uint Nlink;
        public uint Uid;
        public uint Gid;
        public ushort Mode;
        private ushort _spare0;
        public ulong Ino;
        public ulong Size;
        public ulong Blocks;
        public ulong AttributesMask;
        public StatxTimestamp Atime;
        public StatxTimestamp Btime;
        public StatxTimestamp Ctime;
        public StatxTimestamp Mtime;
        public uint RdevMajor;
        public uint RdevMinor;
        public uint DevMajor;
        public uint DevMinor;

        /// <summary>The file type bits of <see cref="Mode"/>.</summary>
        public readonly uint Type => Mode & S_IFMT;
    }


    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_openat2(long nr, int dirfd, byte* path, OpenHow* how, nuint size);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_setxattrat(long nr, int dirfd, byte* path, uint atFlags, byte* name, XattrArgs* args, nuint size);

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true)]
    private static partial int openat_(int dirfd, byte* path, int flags, uint mode);

    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true)]
    private static partial int mkdirat_(int dirfd, byte* path, uint mode);

    [LibraryImport("libc", EntryPoint = "mknodat", SetLastError = true)]
    private static partial int mknodat_(int dirfd, byte* path, uint mode, ulong dev);

    [LibraryImport("libc", EntryPoint = "symlinkat", SetLastError = true)]
    private static partial int symlinkat_(byte* target, int dirfd, byte* path);

    [LibraryImport("libc", EntryPoint = "linkat", SetLastError = true)]
    private static partial int linkat_(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);

    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true)]
    private static partial int unlinkat_(int dirfd, byte* path, int flags);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    private static partial int renameat2_(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, uint flags);

    [LibraryImport("libc", EntryPoint = "fchownat", SetLastError = true)]
    private static partial int fchownat_(int dirfd, byte* path, uint uid, uint gid, int flags);

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    private static partial int fchown_(int fd, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "fchmod", SetLastError = true)]
    private static partial int fchmod_(int fd, uint mode);

    [LibraryImport("libc", EntryPoint = "fchmodat", SetLastError = true)]
    private static partial int fchmodat_(int dirfd, byte* path, uint mode, int flags);

    [LibraryImport("libc", EntryPoint = "utimensat", SetLastError = true)]
    private static partial int utimensat_(int dirfd, byte* path, Timespec* times, int flags);

    [LibraryImport("libc", EntryPoint = "futimens", SetLastError = true)]
    private static partial int futimens_(int fd, Timespec* times);

    [LibraryImport("libc", EntryPoint = "fsetxattr", SetLastError = true)]
    private static partial int fsetxattr_(int fd, byte* name, byte* value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "lsetxattr", SetLastError = true)]
    private static partial int lsetxattr_(byte* path, byte* name, byte* value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "lgetxattr", SetLastError = true)]
    private static partial nint lgetxattr_(byte* path, byte* name, byte* value, nuint size);

    [LibraryImport("libc", EntryPoint = "readlinkat", SetLastError = true)]
    private static partial nint readlinkat_(int dirfd, byte* path, byte* buf, nuint size);

    [LibraryImport("libc", EntryPoint = "getdents64", SetLastError = true)]
    private static partial nint getdents64_(int fd, byte* dirp, nuint count);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long lseek_(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int syncfs_(int fd);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static partial int statx_(int dirfd, byte* path, int flags, uint mask, Statx* buf);

    /// <summary>openat2(2): opens <paramref name="path"/> relative to <paramref name="dirfd"/> under the resolve
    /// restrictions of <paramref name="how"/>. Returns the fd, or -1 with errno set.</summary>
    public static int OpenAt2(int dirfd, ReadOnlySpan<byte> path, in OpenHow how)
    {
        fixed (byte* p = path)
        fixed (OpenHow* h = &how)
        {
            long r;
            // EAGAIN: a rename elsewhere raced a ".." walk under RESOLVE_BENEATH; the kernel asks for a retry.
            do r = syscall_openat2(NR_openat2, dirfd, p, h, (nuint)sizeof(OpenHow));
            while (r < 0 && Errno is EINTR or EAGAIN);
            return (int)r;
        }
    }

    /// <summary>openat(2), retried on EINTR.</summary>
    public static int OpenAt(int dirfd, ReadOnlySpan<byte> path, int flags, uint mode = 0)
    {
        fixed (byte* p = path)
        {
            int r;
            do r = openat_(dirfd, p, flags, mode);
            while (r < 0 && Errno == EINTR);
            return r;
        }
    }

    /// <summary>close(2). Errors are ignored: on Linux the fd is released whatever close returns.</summary>
    public static void CloseFd(int fd)
    {
        if (fd >= 0) SysClose(fd);
    }

    /// <summary>Writes all of <paramref name="data"/>; returns 0, or the errno of the failing write.</summary>
    public static int WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            nuint done = 0, len = (nuint)data.Length;
            while (done < len)
            {
                nint n = SysWrite(fd, p + done, len - done);
                if (n < 0)
                {
                    int e = Errno;
                    if (e == EINTR) continue;
                    return e;
                }
                done += (nuint)n;
            }
            return 0;
        }
    }

    public static int MkdirAt(int dirfd, ReadOnlySpan<byte> path, uint mode)
    {
        fixed (byte* p = path) return mkdirat_(dirfd, p, mode);
    }

    public static int MknodAt(int dirfd, ReadOnlySpan<byte> path, uint mode, ulong dev)
    {
        fixed (byte* p = path) return mknodat_(dirfd, p, mode, dev);
    }

    public static int SymlinkAt(ReadOnlySpan<byte> target, int dirfd, ReadOnlySpan<byte> path)
    {
        fixed (byte* t = target)
        fixed (byte* p = path) return symlinkat_(t, dirfd, p);
    }

    public static int LinkAt(int olddirfd, ReadOnlySpan<byte> oldpath, int newdirfd, ReadOnlySpan<byte> newpath, int flags)
    {
        fixed (byte* o = oldpath)
        fixed (byte* n = newpath) return linkat_(olddirfd, o, newdirfd, n, flags);
    }

    public static int UnlinkAt(int dirfd, ReadOnlySpan<byte> path, int flags)
    {
        fixed (byte* p = path) return unlinkat_(dirfd, p, flags);
    }

    public static int RenameAt2(int olddirfd, ReadOnlySpan<byte> oldpath, int newdirfd, ReadOnlySpan<byte> newpath, uint flags)
    {
        fixed (byte* o = oldpath)
        fixed (byte* n = newpath) return renameat2_(olddirfd, o, newdirfd, n, flags);
    }

    public static int FchownAt(int dirfd, ReadOnlySpan<byte> path, uint uid, uint gid, int flags)
    {
        fixed (byte* p = path) return fchownat_(dirfd, p, uid, gid, flags);
    }

    public static int Fchown(int fd, uint uid, uint gid) => fchown_(fd, uid, gid);

    public static int Fchmod(int fd, uint mode) => fchmod_(fd, mode);

    /// <summary>fchmodat(2) without AT_SYMLINK_NOFOLLOW (which glibc only emulates): callers use it on an entry they
    /// have just created as a non-symlink in a directory nobody else writes to.</summary>
    public static int FchmodAt(int dirfd, ReadOnlySpan<byte> path, uint mode)
    {
        fixed (byte* p = path) return fchmodat_(dirfd, p, mode, 0);
    }

    /// <summary>utimensat(2): sets atime and mtime of <paramref name="path"/> (AT_SYMLINK_NOFOLLOW: of a symlink itself).</summary>
    public static int UtimensAt(int dirfd, ReadOnlySpan<byte> path, Timespec atime, Timespec mtime, int flags)
    {
        Timespec* ts = stackalloc Timespec[2];
        ts[0] = atime;
        ts[1] = mtime;
        fixed (byte* p = path) return utimensat_(dirfd, p, ts, flags);
    }

    public static int Futimens(int fd, Timespec atime, Timespec mtime)
    {
        Timespec* ts = stackalloc Timespec[2];
        ts[0] = atime;
        ts[1] = mtime;
        return futimens_(fd, ts);
    }

    public static int Fsetxattr(int fd, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        fixed (byte* n = name)
        fixed (byte* v = value) return fsetxattr_(fd, n, v, (nuint)value.Length, 0);
    }

    /// <summary>Set once setxattrat(2) returned ENOSYS (kernel before 6.13); tests set it to exercise the fallback.</summary>
    internal static int SetxattratMissing;

    /// <summary>
    /// Sets an xattr on <paramref name="path"/> relative to <paramref name="dirfd"/> without following a final symlink
    /// (so it can label a symlink or device node that cannot be opened). Uses setxattrat(2) (Linux 6.13+); on older
    /// kernels falls back to lsetxattr on <c>/proc/self/fd/DIRFD/NAME</c>: the magic link pins the parent directory the
    /// caller already resolved, and the l-variant does not follow the final component.
    /// <paramref name="path"/> must be a single component.
    /// </summary>
    public static int SetxattrAt(int dirfd, ReadOnlySpan<byte> path, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = path)
        fixed (byte* n = name)
        fixed (byte* v = value)
        {
            if (Volatile.Read(ref SetxattratMissing) == 0)
            {
                XattrArgs args = new() { Value = (ulong)v, Size = (uint)value.Length, Flags = 0 };
                long r = syscall_setxattrat(NR_setxattrat, dirfd, p, AT_SYMLINK_NOFOLLOW, n, &args, (nuint)sizeof(XattrArgs));
                if (r == 0 || Errno != ENOSYS) return (int)r;
                Volatile.Write(ref SetxattratMissing, 1);
            }
            // "/proc/self/fd/" + fd + "/" + path
            Span<byte> buf = stackalloc byte[64 + 256];
            int len = path.IndexOf((byte)0);
            if (len < 0) len = path.Length;
            if (len > 255) { Marshal.SetLastPInvokeError(ENAMETOOLONG); return -1; }
            "/proc/self/fd/"u8.CopyTo(buf);
            int pos = 14;
            dirfd.TryFormat(buf[pos..], out int w);
            pos += w;
            buf[pos++] = (byte)'/';
            path[..len].CopyTo(buf[pos..]);
            pos += len;
            buf[pos] = 0;
            fixed (byte* b = buf) return lsetxattr_(b, n, v, (nuint)value.Length, 0);
        }
    }

    /// <summary>lgetxattr(2) into <paramref name="value"/>; returns the length or -1.</summary>
    public static nint Lgetxattr(ReadOnlySpan<byte> path, ReadOnlySpan<byte> name, Span<byte> value)
    {
        fixed (byte* p = path)
        fixed (byte* n = name)
        fixed (byte* v = value) return lgetxattr_(p, n, v, (nuint)value.Length);
    }

    /// <summary>statx(2) of <paramref name="path"/> relative to <paramref name="dirfd"/>; <paramref name="flags"/>
    /// usually AT_SYMLINK_NOFOLLOW (lstat) or AT_EMPTY_PATH (fstat of dirfd).</summary>
    public static int StatxAt(int dirfd, ReadOnlySpan<byte> path, int flags, out Statx st)
    {
        fixed (byte* p = path)
        fixed (Statx* s = &st) return statx_(dirfd, p, flags, STATX_BASIC_STATS, s);
    }

    /// <summary>getdents64(2): fills <paramref name="buf"/> with <c>struct linux_dirent64</c> records (d_ino u64,
    /// d_off s64, d_reclen u16, d_type u8, then the NUL-terminated name at offset 19). Returns bytes, 0 at the end, -1.</summary>
    public static int Getdents64(int fd, Span<byte> buf)
    {
        fixed (byte* b = buf) return (int)getdents64_(fd, b, (nuint)buf.Length);
    }

    /// <summary>readlinkat(2): the raw target bytes of a symlink into <paramref name="buf"/>; returns the length or -1.</summary>
    public static int ReadlinkAt(int dirfd, ReadOnlySpan<byte> path, Span<byte> buf)
    {
        fixed (byte* p = path)
        fixed (byte* b = buf) return (int)readlinkat_(dirfd, p, b, (nuint)buf.Length);
    }

    /// <summary>lseek(2) to the start of a directory, to list it again.</summary>
    public static long Rewind(int fd) => lseek_(fd, 0, 0);

    /// <summary>syncfs(2): writes back every dirty page of the file system holding <paramref name="fd"/>.</summary>
    public static int SyncFs(int fd) => syncfs_(fd);

    /// <summary>fsync(2) of an fd (a directory fd makes renames and creations in it durable).</summary>
    public static int FsyncFd(int fd) => Fsync(fd);

    /// <summary>Opens <paramref name="path"/> read-only and syncs its whole file system (<paramref name="wholeFs"/>) or
    /// just it. Returns 0 or an errno.</summary>
    public static int SyncPath(string path, bool wholeFs)
    {
        int fd = OpenAt(AT_FDCWD, Utf8z(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return Errno;
        int r = wholeFs ? syncfs_(fd) : Fsync(fd);
        int e = r == 0 ? 0 : Errno;
        SysClose(fd);
        return e;
    }

    /// <summary>glibc's makedev: the dev_t of a device number pair.</summary>
    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xFFFFF000u) << 32) | ((ulong)(major & 0xFFFu) << 8) |
        ((ulong)(minor & 0xFFFFFF00u) << 12) | (minor & 0xFFu);

    /// <summary>Encodes <paramref name="s"/> as NUL-terminated UTF-8 (tests and cold paths).</summary>
    public static byte[] Utf8z(string s)
    {
        var b = new byte[System.Text.Encoding.UTF8.GetByteCount(s) + 1];
        System.Text.Encoding.UTF8.GetBytes(s, b);
        return b;
    }
}
