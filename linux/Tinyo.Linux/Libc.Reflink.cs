using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// Copying a file's data and extended attributes the cheapest way the file system offers: a reflink (FICLONE: the
// clone shares the source's extents copy-on-write, XFS/Btrfs), else copy_file_range (an in-kernel copy, no bytes
// through user space). The runtime's snapshot of a container's writable layer (rt/Tinyo.Rt/Duplicate) uses both.
internal static unsafe partial class Libc
{
    /// <summary>ioctl FICLONE (linux/fs.h, _IOW(0x94, 9, int)): make the destination fd share the source's extents.</summary>
    public const ulong FICLONE = 0x40049409;

    [LibraryImport("libc", EntryPoint = "copy_file_range", SetLastError = true)]
    private static partial nint copy_file_range_(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);

    [LibraryImport("libc", EntryPoint = "flistxattr", SetLastError = true)]
    private static partial nint flistxattr_(int fd, byte* list, nuint size);

    [LibraryImport("libc", EntryPoint = "fgetxattr", SetLastError = true)]
    private static partial nint fgetxattr_(int fd, byte* name, byte* value, nuint size);

    /// <summary>ioctl(dst, FICLONE, src): 0, or -1 with errno (EOPNOTSUPP/EXDEV/EINVAL where the file system cannot).</summary>
    public static int Ficlone(int dst, int src) => SysIoctl(dst, FICLONE, (void*)(nint)src);

    /// <summary>copy_file_range(2) from the files' current offsets: bytes copied, 0 at the source's end, -1.</summary>
    public static nint CopyFileRange(int fdIn, int fdOut, nuint len) => copy_file_range_(fdIn, null, fdOut, null, len, 0);

    /// <summary>flistxattr(2): the NUL-separated attribute names of <paramref name="fd"/>; returns the length or -1.</summary>
    public static nint Flistxattr(int fd, Span<byte> list)
    {
        fixed (byte* l = list) return flistxattr_(fd, l, (nuint)list.Length);
    }

    /// <summary>fgetxattr(2) into <paramref name="value"/>; returns the length or -1.</summary>
    public static nint Fgetxattr(int fd, ReadOnlySpan<byte> name, Span<byte> value)
    {
        fixed (byte* n = name)
        fixed (byte* v = value) return fgetxattr_(fd, n, v, (nuint)value.Length);
    }
}
