using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Tinyo.Linux;
using FileSys = Tinyo.Linux.Libc.FileSys;

namespace Tinyo.Rt.Duplicate;

/// <summary>How a writable layer was snapshotted: what <see cref="UpperSnapshot.Take"/> reports.</summary>
/// <param name="Files">Regular files.</param>
/// <param name="Bytes">Their total size.</param>
/// <param name="Reflinked">Files whose data is shared with the source copy-on-write (FICLONE).</param>
/// <param name="Copied">Files whose data was copied (copy_file_range, or read/write where even that is refused).</param>
/// <param name="Elapsed">Time taken.</param>
public sealed record SnapshotStats(long Files, long Bytes, long Reflinked, long Copied, TimeSpan Elapsed)
{
    /// <summary><c>reflink</c>, <c>copy</c>, <c>reflink+copy</c>, or <c>empty</c> (no file data to share or copy).</summary>
    public string Method => (Reflinked, Copied) switch
    {
        (0, 0) => "empty",
        (_, 0) => "reflink",
        (0, _) => "copy",
        _ => "reflink+copy",
    };
}

/// <summary>
/// A copy of a container's overlay upper directory, taken while the container runs: the tree is walked by directory
/// fd with raw names (never following a symlink the container planted, names that are not UTF-8 kept as they are),
/// and every entry is recreated with its type, owner, mode, timestamps and extended attributes — overlay's own
/// (<c>trusted.overlay.opaque</c>, redirects) included, and whiteouts (0/0 character devices) as they are, so the
/// copy is a valid upper over the same lower layers. File data is reflinked (FICLONE: shared copy-on-write, XFS and
/// Btrfs) and, where the file system cannot, copied in the kernel (copy_file_range); hard links stay hard links.
/// </summary>
/// <remarks>
/// Each file is copied as it is at the moment it is reached; the source is not paused, so a file the container
/// rewrites during the walk may be caught mid-write (what a reflink of a single file guarantees — one instant — holds
/// per file, not across files). A file removed during the walk is skipped. A failure (a full disk: ENOSPC) throws an
/// <see cref="RtException"/> naming the file; the caller removes the partial copy.
/// </remarks>
public static class UpperSnapshot
{
    /// <summary>Copies the tree <paramref name="source"/> into <paramref name="target"/>, which must not exist.</summary>
    public static SnapshotStats Take(string source, string target)
    {
        var sw = Stopwatch.StartNew();
        int src = Libc.OpenAt(FileSys.AT_FDCWD, Libc.Utf8z(source), FileSys.O_RDONLY | FileSys.O_DIRECTORY | FileSys.O_NOFOLLOW | FileSys.O_CLOEXEC);
        if (src < 0) throw Error("opening the writable layer", source);
        int dst = -1;
        var w = new Walk();
        try
        {
            if (Libc.StatxAt(src, ""u8, FileSys.AT_EMPTY_PATH, out var st) != 0) throw Error("stat", source);
            var targetz = Libc.Utf8z(target);
            if (Libc.MkdirAt(FileSys.AT_FDCWD, targetz, 0x1C0 /* 0700 until its own mode is set */) != 0) throw Error("creating", target);
            dst = Libc.OpenAt(FileSys.AT_FDCWD, targetz, FileSys.O_RDONLY | FileSys.O_DIRECTORY | FileSys.O_NOFOLLOW | FileSys.O_CLOEXEC);
            if (dst < 0) throw Error("opening", target);
            w.Root = dst;
            w.CopyDir(src, dst, source, "");
            w.Finish(src, dst, st, target);
        }
        finally
        {
            Libc.CloseFd(src);
            Libc.CloseFd(dst);
            w.Dispose();
        }
        return new SnapshotStats(w.Files, w.Bytes, w.Reflinked, w.Copied, sw.Elapsed);
    }

    private sealed class Walk : IDisposable
    {
        public int Root = -1;
        public long Files, Bytes, Reflinked, Copied;
        private bool _noReflink;
        // Hard links: the first copy's path (relative to the target root, NUL-terminated) per source inode.
        private readonly Dictionary<ulong, byte[]> _links = [];
        private readonly byte[] _xattrNames = ArrayPool<byte>.Shared.Rent(64 * 1024);
        private readonly byte[] _xattrValue = ArrayPool<byte>.Shared.Rent(64 * 1024);

        public void Dispose()
        {
            ArrayPool<byte>.Shared.Return(_xattrNames);
            ArrayPool<byte>.Shared.Return(_xattrValue);
        }

        public void CopyDir(int src, int dst, string srcPath, string rel)
        {
            byte[] buf = ArrayPool<byte>.Shared.Rent(32 * 1024);
            try
            {
                while (true)
                {
                    int n = Libc.Getdents64(src, buf);
                    if (n < 0) throw Error("listing", srcPath);
                    if (n == 0) break;
                    for (int off = 0; off < n;)
                    {
                        int reclen = buf[off + 16] | (buf[off + 17] << 8);
                        var rec = buf.AsSpan(off + 19, reclen - 19);
                        off += reclen;
                        int z = rec.IndexOf((byte)0);
                        var name = rec[..z];
                        if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8)) continue;
                        CopyEntry(src, dst, rec[..(z + 1)], srcPath, rel);
                    }
                }
            }
            finally { ArrayPool<byte>.Shared.Return(buf); }
        }

        private void CopyEntry(int src, int dst, ReadOnlySpan<byte> namez, string srcPath, string rel)
        {
            if (Libc.StatxAt(src, namez, FileSys.AT_SYMLINK_NOFOLLOW, out var st) != 0)
            {
                if (Libc.Errno == FileSys.ENOENT) return; // removed by the running container since the listing
                throw Error("stat", Describe(srcPath, namez));
            }
            string childRel = rel.Length == 0 ? Show(namez) : rel + "/" + Show(namez);
            switch (st.Type)
            {
                case FileSys.S_IFDIR:
                {
                    if (Libc.MkdirAt(dst, namez, 0x1C0) != 0) throw Error("creating directory", childRel);
                    int s = Libc.OpenAt(src, namez, FileSys.O_RDONLY | FileSys.O_DIRECTORY | FileSys.O_NOFOLLOW | FileSys.O_CLOEXEC);
                    if (s < 0)
                    {
                        if (Libc.Errno == FileSys.ENOENT) { Libc.UnlinkAt(dst, namez, FileSys.AT_REMOVEDIR); return; }
                        throw Error("opening", Describe(srcPath, namez));
                    }
                    int d = Libc.OpenAt(dst, namez, FileSys.O_RDONLY | FileSys.O_DIRECTORY | FileSys.O_NOFOLLOW | FileSys.O_CLOEXEC);
                    try
                    {
                        if (d < 0) throw Error("opening", childRel);
                        CopyDir(s, d, Describe(srcPath, namez), childRel);
                        Finish(s, d, st, childRel);
                    }
                    finally
                    {
                        Libc.CloseFd(s);
                        Libc.CloseFd(d);
                    }
                    return;
                }
                case FileSys.S_IFREG:
                    if (st.Nlink > 1 && _links.TryGetValue(st.Ino, out var first))
                    {
                        if (Libc.LinkAt(Root, first, dst, namez, 0) != 0) throw Error("linking", childRel);
                        return;
                    }
                    CopyFile(src, dst, namez, st, srcPath, childRel);
                    if (st.Nlink > 1) _links[st.Ino] = Libc.Utf8z(childRel);
                    return;
                case FileSys.S_IFLNK:
                {
                    Span<byte> target = stackalloc byte[4097];
                    int len = Libc.ReadlinkAt(src, namez, target[..4096]);
                    if (len < 0)
                    {
                        if (Libc.Errno == FileSys.ENOENT) return;
                        throw Error("reading link", Describe(srcPath, namez));
                    }
                    target[len] = 0;
                    if (Libc.SymlinkAt(target[..(len + 1)], dst, namez) != 0) throw Error("creating link", childRel);
                    OwnAndTimes(dst, namez, st, childRel);
                    return;
                }
                default:
                {
                    // Character devices (overlay whiteouts are 0/0 ones), block devices, FIFOs, sockets.
                    ulong dev = Libc.MakeDev(st.RdevMajor, st.RdevMinor);
                    if (Libc.MknodAt(dst, namez, st.Mode, dev) != 0) throw Error("creating node", childRel);
                    OwnAndTimes(dst, namez, st, childRel);
                    if (Libc.FchmodAt(dst, namez, st.Mode & 0xFFFu) != 0) throw Error("chmod", childRel);
                    return;
                }
            }
        }

        private void CopyFile(int srcDir, int dstDir, ReadOnlySpan<byte> namez, in Libc.Statx st, string srcPath, string childRel)
        {
            int s = Libc.OpenAt(srcDir, namez, FileSys.O_RDONLY | FileSys.O_NOFOLLOW | FileSys.O_CLOEXEC);
            if (s < 0)
            {
                if (Libc.Errno == FileSys.ENOENT) return;
                throw Error("opening", Describe(srcPath, namez));
            }
            int d = Libc.OpenAt(dstDir, namez, FileSys.O_WRONLY | FileSys.O_CREAT | FileSys.O_EXCL | FileSys.O_NOFOLLOW | FileSys.O_CLOEXEC, 0x180);
            try
            {
                if (d < 0) throw Error("creating", childRel);
                Files++;
                Bytes += (long)st.Size;
                if (st.Size > 0)
                {
                    if (!_noReflink && Libc.Ficlone(d, s) == 0) Reflinked++;
                    else
                    {
                        int e = Libc.Errno;
                        if (!_noReflink && e is not (FileSys.EOPNOTSUPP or FileSys.EXDEV or FileSys.EINVAL or 25 /* ENOTTY */))
                            throw Error("cloning", childRel, e);
                        _noReflink = true; // the file system cannot: do not ask again for every file
                        CopyData(s, d, childRel);
                        Copied++;
                    }
                }
                FinishFd(s, d, st, childRel);
            }
            finally
            {
                Libc.CloseFd(s);
                Libc.CloseFd(d);
            }
        }

        private static void CopyData(int s, int d, string childRel)
        {
            bool kernelCopy = true;
            byte[]? buf = null;
            try
            {
                while (true)
                {
                    nint n;
                    if (kernelCopy)
                    {
                        n = Libc.CopyFileRange(s, d, 1 << 30);
                        if (n < 0 && Libc.Errno is FileSys.EXDEV or FileSys.EINVAL or FileSys.ENOSYS or FileSys.EOPNOTSUPP)
                        {
                            kernelCopy = false;
                            continue;
                        }
                    }
                    else
                    {
                        buf ??= ArrayPool<byte>.Shared.Rent(256 * 1024);
                        n = Libc.SysReadRetry(s, buf);
                        if (n > 0 && Libc.WriteAll(d, buf.AsSpan(0, (int)n)) is int we and not 0) throw Error("writing", childRel, we);
                    }
                    if (n < 0)
                    {
                        if (Libc.Errno == FileSys.EINTR) continue;
                        throw Error("copying", childRel);
                    }
                    if (n == 0) return; // the source's end (it may have shrunk since it was listed)
                }
            }
            finally { if (buf is not null) ArrayPool<byte>.Shared.Return(buf); }
        }

        /// <summary>A directory's or file's attributes, once its content is in place: xattrs, owner, then mode (a
        /// chown clears set-id bits), then times (last: everything before changes them).</summary>
        public void Finish(int s, int d, in Libc.Statx st, string what) => FinishFd(s, d, st, what);

        private void FinishFd(int s, int d, in Libc.Statx st, string what)
        {
            CopyXattrs(s, d, what);
            if (Libc.Fchown(d, st.Uid, st.Gid) != 0) throw Error("chown", what);
            if (Libc.Fchmod(d, st.Mode & 0xFFFu) != 0) throw Error("chmod", what);
            if (Libc.Futimens(d, Ts(st.Atime), Ts(st.Mtime)) != 0) throw Error("setting times of", what);
        }

        private static void OwnAndTimes(int dir, ReadOnlySpan<byte> namez, in Libc.Statx st, string what)
        {
            if (Libc.FchownAt(dir, namez, st.Uid, st.Gid, FileSys.AT_SYMLINK_NOFOLLOW) != 0) throw Error("chown", what);
            if (Libc.UtimensAt(dir, namez, Ts(st.Atime), Ts(st.Mtime), FileSys.AT_SYMLINK_NOFOLLOW) != 0) throw Error("setting times of", what);
        }

        private static Libc.Timespec Ts(Libc.StatxTimestamp t) => new() { Sec = t.Sec, Nsec = t.Nsec };

        private void CopyXattrs(int s, int d, string what)
        {
            nint len = Libc.Flistxattr(s, _xattrNames);
            if (len < 0)
            {
                if (Libc.Errno is FileSys.EOPNOTSUPP) return;
                throw Error("listing attributes of", what);
            }
            var names = _xattrNames.AsSpan(0, (int)len);
            while (names.Length > 0)
            {
                int z = names.IndexOf((byte)0);
                if (z < 0) break;
                var namez = names[..(z + 1)];
                names = names[(z + 1)..];
                nint vlen = Libc.Fgetxattr(s, namez, _xattrValue);
                if (vlen < 0)
                {
                    if (Libc.Errno == FileSys.ENODATA) continue;
                    throw Error("reading attribute " + Show(namez) + " of", what);
                }
                if (Libc.Fsetxattr(d, namez, _xattrValue.AsSpan(0, (int)vlen)) != 0)
                    throw Error("setting attribute " + Show(namez) + " on", what);
            }
        }
    }

    private static string Show(ReadOnlySpan<byte> namez)
    {
        int z = namez.IndexOf((byte)0);
        return System.Text.Encoding.UTF8.GetString(z < 0 ? namez : namez[..z]);
    }

    private static string Describe(string dir, ReadOnlySpan<byte> namez) => dir + "/" + Show(namez);

    private static RtException Error(string what, string path, int errno = -1)
    {
        if (errno < 0) errno = Libc.Errno;
        var msg = errno == 28 /* ENOSPC */ || errno == 122 /* EDQUOT */
            ? "no space left on the device of the runtime root (the snapshot needs as much as the source's writable layer holds)"
            : Marshal.GetPInvokeErrorMessage(errno);
        return new RtException($"snapshot of the writable layer: {what} {path}: {msg}");
    }
}
