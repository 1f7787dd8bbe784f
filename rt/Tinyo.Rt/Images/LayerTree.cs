using System.Buffers;
using Tinyo.Linux;
using FileSys = Tinyo.Linux.Libc.FileSys;

namespace Tinyo.Rt.Images;

/// <summary>
/// Removal of an unpacked layer tree by directory fd and raw names. <see cref="System.IO.Directory.Delete(string, bool)"/>
/// works on strings: it cannot remove names that are not valid UTF-8, which layers may hold.
/// </summary>
internal static class LayerTree
{
    /// <summary>
    /// Removes directory NAME (NUL-terminated) under <paramref name="parentFd"/> with everything in it, by fd and raw
    /// names: never follows a symlink (symlinks are unlinked), and handles names that are not valid UTF-8.
    /// Returns 0 or an errno.
    /// </summary>
    public static int Remove(int parentFd, ReadOnlySpan<byte> namez)
    {
        if (Libc.UnlinkAt(parentFd, namez, FileSys.AT_REMOVEDIR) == 0) return 0;
        int err = Libc.Errno;
        if (err == FileSys.ENOENT) return 0;
        if (err != FileSys.ENOTEMPTY && err != FileSys.EEXIST) return err;
        int fd = Libc.OpenAt(parentFd, namez, FileSys.O_RDONLY | FileSys.O_DIRECTORY | FileSys.O_NOFOLLOW | FileSys.O_CLOEXEC);
        if (fd < 0) return Libc.Errno;
        byte[] buf = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            // Unlinking while listing may make getdents skip entries: list again until a pass finds nothing to remove.
            bool removed = true;
            while (removed)
            {
                removed = false;
                if (Libc.Rewind(fd) < 0) return Libc.Errno;
                while (true)
                {
                    int n = Libc.Getdents64(fd, buf);
                    if (n < 0) return Libc.Errno;
                    if (n == 0) break;
                    for (int off = 0; off < n;)
                    {
                        int reclen = buf[off + 16] | (buf[off + 17] << 8);
                        byte dtype = buf[off + 18];
                        var rec = buf.AsSpan(off + 19, reclen - 19);
                        off += reclen;
                        int z = rec.IndexOf((byte)0);
                        var childz = rec[..(z + 1)];
                        var child = rec[..z];
                        if (child.SequenceEqual("."u8) || child.SequenceEqual(".."u8)) continue;
                        bool isDir = dtype == FileSys.DT_DIR;
                        if (dtype == FileSys.DT_UNKNOWN)
                            isDir = Libc.StatxAt(fd, childz, FileSys.AT_SYMLINK_NOFOLLOW, out var cst) == 0 && cst.Type == FileSys.S_IFDIR;
                        int r = isDir ? Remove(fd, childz) : (Libc.UnlinkAt(fd, childz, 0) == 0 ? 0 : Libc.Errno);
                        if (r != 0 && r != FileSys.ENOENT) return r;
                        removed = true;
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
            Libc.CloseFd(fd);
        }
        return Libc.UnlinkAt(parentFd, namez, FileSys.AT_REMOVEDIR) == 0 ? 0 : Libc.Errno;
    }
}
