using System.Buffers;
using System.Formats.Tar;
using System.Text;
using Tinyo.Linux;
using FileSys = Tinyo.Linux.Libc.FileSys;

namespace Tinyo.Rt.Images;

/// <summary>
/// Writes the entries of one tar stream below a directory the caller created (and nobody else writes to), refusing
/// anything that would touch a file outside it. See <see cref="LayerUnpacker"/> for the policy; this type is its engine.
/// </summary>
/// <remarks>
/// Every path is resolved relative to a directory fd of the root with <c>openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
/// | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)</c>: the kernel itself refuses to leave the root or to pass through a
/// symlink, whatever earlier entries created. Entries are then made with the <c>*at</c> calls against the resolved
/// parent fd and a single final component, which is never followed (O_EXCL|O_NOFOLLOW, AT_SYMLINK_NOFOLLOW).
/// </remarks>
internal sealed class LayerExtractor : IDisposable
{
    private const int DataBufferSize = 1 << 20;
    private const ulong ResolveStrict = FileSys.RESOLVE_BENEATH | FileSys.RESOLVE_NO_SYMLINKS | FileSys.RESOLVE_NO_MAGICLINKS | FileSys.RESOLVE_NO_XDEV;
    private static ReadOnlySpan<byte> WhiteoutPrefix => ".wh."u8;
    private static ReadOnlySpan<byte> OpaqueWhiteout => ".wh..wh..opq"u8;

    private readonly string _rootPath;
    private readonly HashingStream _stream;
    private readonly CancellationToken _ct;
    private readonly int _rootFd;
    private readonly byte[] _data;
    private const int RawNameMax = 64 * 1024;
    private readonly byte[] _path = new byte[TarEntryPath.MaxPathBytes + 2];
    private readonly byte[] _aux = new byte[TarEntryPath.MaxPathBytes + 2];
    private readonly byte[] _rel = new byte[TarEntryPath.MaxPathBytes + 2];
    private readonly byte[] _target = new byte[TarEntryPath.MaxPathBytes + 2];
    private readonly byte[] _victim = new byte[TarEntryPath.MaxPathBytes + 2];
    private readonly byte[] _rawName = new byte[RawNameMax];
    private readonly byte[] _rawLink = new byte[RawNameMax];
    private readonly byte[] _cachedParent = new byte[TarEntryPath.MaxPathBytes + 2];
    private int _cachedParentLen = -1;
    private int _cachedParentFd = -1;
    private readonly List<(byte[] Rel, Libc.Timespec Mtime)> _dirTimes = new();
    private bool _rootSeen;
    private TarHeaderTap? _tap;

    // The entry being processed, for error messages (decoded only when an error is raised).
    private int _rawNameLen;
    private long _entryOffset;

    public LayerExtractor(string rootPath, HashingStream stream, CancellationToken ct)
    {
        _rootPath = rootPath;
        _stream = stream;
        _ct = ct;
        _rootFd = Libc.OpenAt(FileSys.AT_FDCWD, Libc.Utf8z(rootPath), FileSys.O_PATH | FileSys.O_DIRECTORY | FileSys.O_NOFOLLOW | FileSys.O_CLOEXEC);
        if (_rootFd < 0) throw Libc.Error("open", rootPath);
        _data = ArrayPool<byte>.Shared.Rent(DataBufferSize);
    }

    /// <summary>Number of entries extracted (for tests and logs).</summary>
    public int Entries { get; private set; }

    /// <summary>Buffer the caller may reuse to drain the stream afterwards.</summary>
    public byte[] Buffer => _data;

    /// <summary>Extracts every entry, then applies directory timestamps (last, since writing into a directory changes them).</summary>
    public void Run()
    {
        var tap = new TarHeaderTap(_stream);
        _tap = tap;
        using var reader = new TarReader(tap, leaveOpen: true);
        long nextHeader = 0, dataEnd = 0;
        while (true)
        {
            _ct.ThrowIfCancellationRequested();
            tap.BeginEntry(nextHeader);
            TarEntry? entry;
            try
            {
                entry = reader.GetNextEntry(copyData: false);
            }
            catch (EndOfStreamException) when (_stream.AtEnd && (tap.Position == nextHeader || tap.Position == dataEnd))
            {
                // The stream ends exactly where a header would start: an archive without its end marker, which Go's
                // archive/tar (hence Docker) accepts. Or right after the last entry's complete data, before its padding
                // to 512 bytes: what a Go tar writer that was never closed leaves (umoci 0.4.7's layers), which
                // podman accepts. Nothing is lost either way, and the diff_id check covers every byte. A stream that
                // ends inside a header, inside the data or part-way through the padding is still refused.
                break;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                string where = Entries == 0 ? "" : $" after entry '{EntryName}'";
                if (e is DecompressionException) throw;
                if (e is RtException)
                    throw new RtException(Entries == 0 ? $"layer is not a valid tar stream: {e.Message}" : e.Message + where, e);
                if (e is EndOfStreamException)
                    throw new RtException($"tar stream ends inside a header{where} (tar offset {tap.NextHeaderOffset})", e);
                throw new RtException(Entries == 0
                    ? $"layer is not a valid tar stream (tar offset {tap.NextHeaderOffset}): {e.Message}"
                    : $"malformed tar header{where} (tar offset {tap.NextHeaderOffset}): {e.Message}", e);
            }
            if (entry is null) break;
            _entryOffset = tap.EntryOffset;
            _rawNameLen = entry.EntryType == TarEntryType.GlobalExtendedAttributes ? 0 : tap.RawName(_rawName);
            if (_rawNameLen < 0)
            {
                _rawNameLen = 0;
                throw Fail($"name longer than {RawNameMax} bytes");
            }
            long dataLength = entry.DataStream is null ? 0 : entry.Length;
            dataEnd = tap.Position + dataLength;
            nextHeader = (dataEnd + 511) & ~511L;
            Entries++;
            Extract(entry);
        }
        FinishDirectories();
    }

    private void Extract(TarEntry entry)
    {
        if (entry.EntryType == TarEntryType.GlobalExtendedAttributes) return; // ignored, as Docker does
        int relLen = TarEntryPath.Normalize(_rawName.AsSpan(0, _rawNameLen), _rel, out var problem);
        if (relLen < 0) throw Fail(problem!);
        ReadOnlySpan<byte> rel = _rel.AsSpan(0, relLen);
        CheckPaxAttributes();

        int nameStart = rel.LastIndexOf((byte)'/') + 1;
        if (rel[nameStart..].StartsWith(WhiteoutPrefix))
        {
            DrainData(entry);
            Whiteout(entry, rel, nameStart);
            return;
        }

        var type = entry.EntryType;
        // Old (v7) archives mark directories only by a trailing slash on a "regular file" ('\0'); Go does the same.
        if (type == TarEntryType.V7RegularFile && _rawNameLen > 0 && _rawName[_rawNameLen - 1] == (byte)'/') type = TarEntryType.Directory;
        switch (type)
        {
            case TarEntryType.Directory:
                Directory(entry, rel);
                break;
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                if (relLen == 0) throw Fail("a regular file cannot replace the layer root");
                RegularFile(entry, rel);
                break;
            case TarEntryType.SymbolicLink:
                if (relLen == 0) throw Fail("a symlink cannot replace the layer root");
                Symlink(entry, rel);
                break;
            case TarEntryType.HardLink:
                if (relLen == 0) throw Fail("a hardlink cannot replace the layer root");
                HardLink(entry, rel);
                break;
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                if (relLen == 0) throw Fail("a device cannot replace the layer root");
                Device(entry, rel);
                break;
            case TarEntryType.SparseFile:
                throw Fail("GNU sparse files are not supported");
            default:
                throw Fail($"unsupported tar entry type '{(char)entry.EntryType}' ({entry.EntryType})");
        }
    }

    /// <summary>The raw link target of the current entry (PAX linkpath, GNU long link or header field).</summary>
    private ReadOnlySpan<byte> RawLink()
    {
        int n = _tap!.RawLinkName(_rawLink);
        if (n < 0) throw Fail($"link target longer than {RawNameMax} bytes");
        return _rawLink.AsSpan(0, n);
    }

    // ---- entry kinds -------------------------------------------------------------------------------------------

    private void RegularFile(TarEntry entry, ReadOnlySpan<byte> rel)
    {
        int parentFd = Prepare(rel, create: true, out var name);
        int fd = Libc.OpenAt(parentFd, name, FileSys.O_WRONLY | FileSys.O_CREAT | FileSys.O_EXCL | FileSys.O_NOFOLLOW | FileSys.O_CLOEXEC, 0x180);
        if (fd < 0 && Libc.Errno == FileSys.EEXIST)
        {
            RemoveExisting(parentFd, name);
            fd = Libc.OpenAt(parentFd, name, FileSys.O_WRONLY | FileSys.O_CREAT | FileSys.O_EXCL | FileSys.O_NOFOLLOW | FileSys.O_CLOEXEC, 0x180);
        }
        if (fd < 0) throw FailErrno("cannot create file");
        try
        {
            CopyData(entry, fd);
            // Order matters: chown clears setuid/setgid and security.capability, so mode then xattrs come after it.
            if (Libc.Fchown(fd, Uid(entry), Gid(entry)) != 0) throw FailErrno("chown");
            if (Libc.Fchmod(fd, Mode(entry)) != 0) throw FailErrno("chmod");
            SetXattrs(fd, default, default);
            var t = Time(entry);
            if (Libc.Futimens(fd, t, t) != 0) throw FailErrno("set times");
        }
        finally
        {
            Libc.CloseFd(fd);
        }
    }

    private void Directory(TarEntry entry, ReadOnlySpan<byte> rel)
    {
        DrainData(entry);
        int fd;
        if (rel.IsEmpty)
        {
            _rootSeen = true;
            fd = Libc.OpenAt(_rootFd, "."u8, FileSys.O_RDONLY | FileSys.O_DIRECTORY | FileSys.O_CLOEXEC);
            if (fd < 0) throw FailErrno("open layer root");
        }
        else
        {
            int parentFd = Prepare(rel, create: true, out var name);
            if (Libc.MkdirAt(parentFd, name, 0x1C0) != 0)
            {
                if (Libc.Errno != FileSys.EEXIST) throw FailErrno("cannot create directory");
                // Docker semantics: an existing directory is kept (with its contents) and takes the new metadata;
                // anything else is replaced.
                if (Libc.StatxAt(parentFd, name, FileSys.AT_SYMLINK_NOFOLLOW, out var st) != 0) throw FailErrno("stat");
                if (st.Type != FileSys.S_IFDIR)
                {
                    RemoveExisting(parentFd, name);
                    if (Libc.MkdirAt(parentFd, name, 0x1C0) != 0) throw FailErrno("cannot create directory");
                }
            }
            fd = Libc.OpenAt(parentFd, name, FileSys.O_RDONLY | FileSys.O_DIRECTORY | FileSys.O_NOFOLLOW | FileSys.O_CLOEXEC);
            if (fd < 0) throw FailErrno("open directory");
        }
        try
        {
            if (Libc.Fchown(fd, Uid(entry), Gid(entry)) != 0) throw FailErrno("chown");
            if (Libc.Fchmod(fd, Mode(entry)) != 0) throw FailErrno("chmod");
            SetXattrs(fd, default, default);
        }
        finally
        {
            Libc.CloseFd(fd);
        }
        _dirTimes.Add((rel.ToArray(), Time(entry)));
    }

    private void Symlink(TarEntry entry, ReadOnlySpan<byte> rel)
    {
        var target = RawLink();
        if (target.IsEmpty) throw Fail("symlink has an empty target");
        if (target.Contains((byte)0)) throw Fail("symlink target contains a NUL byte");
        if (target.Length > TarEntryPath.MaxPathBytes) throw Fail("symlink target is too long");
        target.CopyTo(_aux);
        _aux[target.Length] = 0;
        var targetz = _aux.AsSpan(0, target.Length + 1);

        int parentFd = Prepare(rel, create: true, out var name);
        if (Libc.SymlinkAt(targetz, parentFd, name) != 0)
        {
            if (Libc.Errno != FileSys.EEXIST) throw FailErrno("cannot create symlink");
            RemoveExisting(parentFd, name);
            if (Libc.SymlinkAt(targetz, parentFd, name) != 0) throw FailErrno("cannot create symlink");
        }
        if (Libc.FchownAt(parentFd, name, Uid(entry), Gid(entry), FileSys.AT_SYMLINK_NOFOLLOW) != 0) throw FailErrno("lchown");
        SetXattrs(-1, parentFd, name);
        var t = Time(entry);
        if (Libc.UtimensAt(parentFd, name, t, t, FileSys.AT_SYMLINK_NOFOLLOW) != 0) throw FailErrno("set times");
    }

    private void HardLink(TarEntry entry, ReadOnlySpan<byte> rel)
    {
        var raw = RawLink();
        int tlen = TarEntryPath.Normalize(raw, _target, out var problem);
        if (tlen < 0) throw Fail($"hardlink target '{Show(raw)}': {problem}");
        var target = _target.AsSpan(0, tlen);
        if (tlen == 0) throw Fail("hardlink to the layer root");
        if (target.SequenceEqual(rel)) throw Fail("hardlink to itself");

        // Resolve the target's parent (never creating anything), then link its final component as it is: linkat
        // without AT_SYMLINK_FOLLOW links a symlink itself, never the file it points to.
        int tParentFd = _rootFd;
        bool closeTParent = false;
        target.CopyTo(_aux);
        _aux[tlen] = 0;
        ReadOnlySpan<byte> tname;
        int slashByte = target.LastIndexOf((byte)'/');
        if (slashByte >= 0)
        {
            _aux[slashByte] = 0;
            var how = new Libc.OpenHow { Flags = (ulong)(FileSys.O_PATH | FileSys.O_DIRECTORY | FileSys.O_CLOEXEC), Resolve = ResolveStrict };
            tParentFd = Libc.OpenAt2(_rootFd, _aux.AsSpan(0, slashByte + 1), how);
            if (tParentFd < 0)
            {
                int e = Libc.Errno;
                throw e switch
                {
                    FileSys.ENOENT or FileSys.ENOTDIR => Fail($"hardlink target '{Show(target)}' does not exist in the layer"),
                    FileSys.ELOOP or FileSys.EXDEV => Fail($"hardlink target '{Show(target)}' is not reachable inside the layer without following a symlink"),
                    _ => FailErrno($"hardlink target '{Show(target)}'", e),
                };
            }
            closeTParent = true;
            tname = _aux.AsSpan(slashByte + 1, tlen - slashByte);
        }
        else tname = _aux.AsSpan(0, tlen + 1);

        try
        {
            int parentFd = Prepare(rel, create: true, out var name);
            if (Libc.LinkAt(tParentFd, tname, parentFd, name, 0) != 0)
            {
                int e = Libc.Errno;
                if (e == FileSys.EEXIST)
                {
                    RemoveExisting(parentFd, name);
                    if (Libc.LinkAt(tParentFd, tname, parentFd, name, 0) == 0) return;
                    e = Libc.Errno;
                }
                if (e == FileSys.ENOENT) throw Fail($"hardlink target '{Show(_target.AsSpan(0, tlen))}' does not exist in the layer");
                if (e == FileSys.EPERM) throw Fail($"hardlink target '{Show(_target.AsSpan(0, tlen))}' is a directory");
                throw FailErrno("cannot create hardlink", e);
            }
        }
        finally
        {
            if (closeTParent) Libc.CloseFd(tParentFd);
        }
    }

    private void Device(TarEntry entry, ReadOnlySpan<byte> rel)
    {
        DrainData(entry);
        uint type = entry.EntryType switch
        {
            TarEntryType.CharacterDevice => FileSys.S_IFCHR,
            TarEntryType.BlockDevice => FileSys.S_IFBLK,
            _ => FileSys.S_IFIFO,
        };
        ulong dev = 0;
        if (type != FileSys.S_IFIFO && entry is PosixTarEntry posix)
        {
            if (posix.DeviceMajor < 0 || posix.DeviceMinor < 0) throw Fail("negative device number");
            dev = Libc.MakeDev((uint)posix.DeviceMajor, (uint)posix.DeviceMinor);
        }
        int parentFd = Prepare(rel, create: true, out var name);
        if (Libc.MknodAt(parentFd, name, type | 0x180, dev) != 0)
        {
            if (Libc.Errno != FileSys.EEXIST) throw FailErrno("mknod");
            RemoveExisting(parentFd, name);
            if (Libc.MknodAt(parentFd, name, type | 0x180, dev) != 0) throw FailErrno("mknod");
        }
        if (Libc.FchownAt(parentFd, name, Uid(entry), Gid(entry), FileSys.AT_SYMLINK_NOFOLLOW) != 0) throw FailErrno("chown");
        // Just made by mknodat in a directory only we write to: not a symlink, so following is moot.
        if (Libc.FchmodAt(parentFd, name, Mode(entry)) != 0) throw FailErrno("chmod");
        SetXattrs(-1, parentFd, name);
        var t = Time(entry);
        if (Libc.UtimensAt(parentFd, name, t, t, FileSys.AT_SYMLINK_NOFOLLOW) != 0) throw FailErrno("set times");
    }

    /// <summary>
    /// <c>.wh..wh..opq</c> marks its directory opaque (xattr <c>trusted.overlay.opaque=y</c>); <c>.wh.NAME</c> becomes
    /// the overlayfs whiteout for NAME, a 0/0 character device. Other <c>.wh..wh.*</c> names are aufs bookkeeping and
    /// are skipped, as Docker does.
    /// </summary>
    private void Whiteout(TarEntry entry, ReadOnlySpan<byte> rel, int nameStart)
    {
        var baseName = rel[nameStart..];
        if (baseName.SequenceEqual(OpaqueWhiteout))
        {
            int parentFd = Prepare(rel, create: true, out _);
            int fd = Libc.OpenAt(parentFd, "."u8, FileSys.O_RDONLY | FileSys.O_DIRECTORY | FileSys.O_CLOEXEC);
            if (fd < 0) throw FailErrno("open directory");
            try
            {
                if (Libc.Fsetxattr(fd, "trusted.overlay.opaque\0"u8, "y"u8) != 0) throw FailErrno("mark directory opaque");
            }
            finally
            {
                Libc.CloseFd(fd);
            }
            return;
        }
        var target = baseName[WhiteoutPrefix.Length..];
        if (target.StartsWith(WhiteoutPrefix)) return;
        if (target.IsEmpty || target.SequenceEqual("."u8) || target.SequenceEqual(".."u8))
            throw Fail("whiteout names no file");
        // Build "dir/NAME" for the whited-out file and create the 0/0 char device there.
        rel[..nameStart].CopyTo(_victim);
        target.CopyTo(_victim.AsSpan(nameStart));
        var victim = _victim.AsSpan(0, nameStart + target.Length);
        int pfd = Prepare(victim, create: true, out var name);
        if (Libc.MknodAt(pfd, name, FileSys.S_IFCHR, 0) != 0)
        {
            if (Libc.Errno != FileSys.EEXIST) throw FailErrno("create whiteout");
            RemoveExisting(pfd, name);
            if (Libc.MknodAt(pfd, name, FileSys.S_IFCHR, 0) != 0) throw FailErrno("create whiteout");
        }
        // Owned like the whiteout entry, as Docker's overlay2 driver does.
        if (Libc.FchownAt(pfd, name, Uid(entry), Gid(entry), FileSys.AT_SYMLINK_NOFOLLOW) != 0) throw FailErrno("chown whiteout");
    }

    // ---- paths -------------------------------------------------------------------------------------------------

    /// <summary>
    /// Encodes <paramref name="rel"/> into the path buffer as "PARENT\0NAME\0" and returns the fd of PARENT (owned by
    /// the cache: do not close) with the span of NAME. Missing parents are created (0755, root-owned) when asked.
    /// </summary>
    private int Prepare(ReadOnlySpan<byte> rel, bool create, out ReadOnlySpan<byte> name)
    {
        int len = rel.Length;
        rel.CopyTo(_path);
        _path[len] = 0;
        int slash = _path.AsSpan(0, len).LastIndexOf((byte)'/');
        if (slash < 0)
        {
            name = _path.AsSpan(0, len + 1);
            return _rootFd;
        }
        _path[slash] = 0;
        var parent = _path.AsSpan(0, slash + 1);
        name = _path.AsSpan(slash + 1, len - slash);
        if (_cachedParentLen == parent.Length && parent.SequenceEqual(_cachedParent.AsSpan(0, _cachedParentLen)))
            return _cachedParentFd;

        int fd = OpenParent(parent, create);
        DropParentCache();
        parent.CopyTo(_cachedParent);
        _cachedParentLen = parent.Length;
        _cachedParentFd = fd;
        return fd;
    }

    private int OpenParent(ReadOnlySpan<byte> parentz, bool create)
    {
        var how = new Libc.OpenHow { Flags = (ulong)(FileSys.O_PATH | FileSys.O_DIRECTORY | FileSys.O_CLOEXEC), Resolve = ResolveStrict };
        int fd = Libc.OpenAt2(_rootFd, parentz, how);
        if (fd >= 0) return fd;
        int err = Libc.Errno;
        if (err == FileSys.ENOSYS) throw new RtException("openat2 is not available: Linux 5.6 or newer is required to unpack layers safely");

        // Slow path: walk component by component, to create what is missing or to name the component at fault.
        int cur = _rootFd;
        int start = 0;
        int end = parentz.Length - 1; // without the NUL
        Span<byte> comp = stackalloc byte[TarEntryPath.MaxNameBytes + 1];
        try
        {
            while (start < end)
            {
                int slash = parentz[start..end].IndexOf((byte)'/');
                int clen = slash < 0 ? end - start : slash;
                parentz.Slice(start, clen).CopyTo(comp);
                comp[clen] = 0;
                var compz = comp[..(clen + 1)];
                string soFar = Show(parentz[..(start + clen)]);
                int next = Libc.OpenAt2(cur, compz, how);
                if (next < 0 && Libc.Errno == FileSys.ENOENT && create)
                {
                    if (Libc.MkdirAt(cur, compz, 0x1ED) != 0 && Libc.Errno != FileSys.EEXIST) throw FailErrno($"cannot create parent directory '{soFar}'");
                    next = Libc.OpenAt2(cur, compz, how);
                }
                if (next < 0)
                {
                    int e = Libc.Errno;
                    throw e switch
                    {
                        FileSys.ELOOP => Fail($"parent '{soFar}' is a symlink; refusing to write through it"),
                        FileSys.ENOTDIR => Fail($"parent '{soFar}' is not a directory"),
                        FileSys.ENOENT => Fail($"parent '{soFar}' does not exist"),
                        FileSys.EXDEV => Fail($"parent '{soFar}' crosses a mount point"),
                        _ => FailErrno($"cannot open parent '{soFar}'", e),
                    };
                }
                if (cur != _rootFd) Libc.CloseFd(cur);
                cur = next;
                start += clen + 1;
            }
            int result = cur;
            cur = _rootFd;
            return result;
        }
        finally
        {
            if (cur != _rootFd) Libc.CloseFd(cur);
        }
    }

    /// <summary>Removes whatever is at NAME (a directory with all its contents) so a later entry can take its place.</summary>
    private void RemoveExisting(int parentFd, ReadOnlySpan<byte> name)
    {
        if (Libc.StatxAt(parentFd, name, FileSys.AT_SYMLINK_NOFOLLOW, out var st) != 0) throw FailErrno("stat existing entry");
        if (st.Type == FileSys.S_IFDIR)
        {
            int e = LayerTree.Remove(parentFd, name);
            if (e != 0) throw FailErrno("cannot replace directory", e);
            // A cached parent fd may have pointed into the removed tree.
            if (_cachedParentFd != parentFd) DropParentCache();
        }
        else if (Libc.UnlinkAt(parentFd, name, 0) != 0) throw FailErrno("cannot replace existing entry");
    }

    private void DropParentCache()
    {
        if (_cachedParentFd >= 0) Libc.CloseFd(_cachedParentFd);
        _cachedParentFd = -1;
        _cachedParentLen = -1;
    }

    // ---- data and metadata -------------------------------------------------------------------------------------

    private void CopyData(TarEntry entry, int fd)
    {
        var src = entry.DataStream;
        long expected = entry.Length;
        if (src is null || expected == 0) return;
        long total = 0;
        var buf = _data;
        while (total < expected)
        {
            int want = (int)Math.Min(buf.Length, expected - total);
            int n = ReadData(src, buf.AsSpan(0, want));
            if (n == 0) throw Fail($"tar stream ends inside the data of this entry ({total} of {expected} bytes)");
            int e = Libc.WriteAll(fd, buf.AsSpan(0, n));
            if (e != 0) throw FailErrno("write", e);
            total += n;
        }
    }

    private void DrainData(TarEntry entry)
    {
        var src = entry.DataStream;
        long expected = entry.Length;
        if (src is null || expected == 0) return;
        long total = 0;
        while (total < expected)
        {
            int n = ReadData(src, _data.AsSpan(0, (int)Math.Min(_data.Length, expected - total)));
            if (n == 0) throw Fail($"tar stream ends inside the data of this entry ({total} of {expected} bytes)");
            total += n;
        }
    }

    // Fills as much of the buffer as the stream gives: fewer, larger writes.
    private int ReadData(Stream src, Span<byte> buf)
    {
        _ct.ThrowIfCancellationRequested();
        int total = 0;
        try
        {
            while (total < buf.Length)
            {
                int n = src.Read(buf[total..]);
                if (n == 0) break;
                total += n;
            }
        }
        catch (Exception e) when (e is not RtException and not OperationCanceledException)
        {
            throw Fail($"reading entry data: {e.Message}");
        }
        return total;
    }

    private void CheckPaxAttributes()
    {
        if (_tap is null || _tap.PaxData.IsEmpty) return;
        bool sparse;
        try
        {
            sparse = TarHeaderTap.HasKeyWithPrefix(_tap.PaxData, "GNU.sparse."u8);
        }
        catch (RtException e)
        {
            throw Fail(e.Message);
        }
        if (sparse) throw Fail("GNU sparse files are not supported");
    }

    /// <summary>
    /// Applies PAX <c>SCHILY.xattr.NAME</c> records. Namespaces <c>user.</c>, <c>security.</c> (file capabilities)
    /// and <c>system.</c> (POSIX ACLs) are applied; <c>trusted.</c> is dropped: it is overlayfs's private control
    /// namespace (opaque, redirect, metacopy), and honouring it would let a layer forge overlay metadata; so is
    /// <c>security.selinux</c>, the build host's label. Errors that mean "this filesystem or file type does not take
    /// xattrs" (EOPNOTSUPP, EPERM) are ignored, as Docker does.
    /// </summary>
    private void SetXattrs(int fd, int parentFd, ReadOnlySpan<byte> name)
    {
        if (_tap is null || _tap.PaxData.IsEmpty) return;
        // Whatever the reader made of the entry (PAX, or GNU preceded by a PAX header), values come from the raw PAX
        // block: TarReader's string values would mangle binary ones (capabilities).
        var pax = _tap.PaxData;
        Span<byte> xn = stackalloc byte[256];
        int pos = 0;
        while (true)
        {
            Range nameRange, valueRange;
            try
            {
                if (!TarHeaderTap.TryNextXattr(pax, ref pos, out nameRange, out valueRange)) break;
            }
            catch (RtException e)
            {
                throw Fail(e.Message);
            }
            var xname = pax[nameRange];
            var value = pax[valueRange];
            if (!(xname.StartsWith("user."u8) || xname.StartsWith("security."u8) || xname.StartsWith("system."u8)))
                continue;
            // The build host's SELinux label means nothing here (the runtime labels the container's mounts), and an
            // SELinux host would refuse a label its policy does not know.
            if (xname.SequenceEqual("security.selinux"u8)) continue;
            if (xname.Length > 255 || xname.Contains((byte)0)) throw Fail("invalid xattr name");
            xname.CopyTo(xn);
            xn[xname.Length] = 0;
            var xnz = xn[..(xname.Length + 1)];
            int r = fd >= 0 ? Libc.Fsetxattr(fd, xnz, value) : Libc.SetxattrAt(parentFd, name, xnz, value);
            if (r != 0)
            {
                int e = Libc.Errno;
                if (e is FileSys.EOPNOTSUPP or FileSys.EPERM) continue;
                throw FailErrno($"set xattr '{Show(xname)}'", e);
            }
        }
    }

    private uint Uid(TarEntry e) => e.Uid >= 0 ? (uint)e.Uid : throw Fail("negative uid");
    private uint Gid(TarEntry e) => e.Gid >= 0 ? (uint)e.Gid : throw Fail("negative gid");
    private static uint Mode(TarEntry e) => (uint)e.Mode & 0xFFF; // permissions plus setuid, setgid, sticky

    /// <summary>
    /// Entry mtime as a timespec: the raw PAX mtime when present (nanoseconds, as Go keeps them), else the reader's;
    /// a missing (all-zero) timestamp is the epoch, as in Go's archive/tar.
    /// </summary>
    private Libc.Timespec Time(TarEntry e)
    {
        if (_tap is not null && _tap.TryPaxMtime(out long s, out long ns)) return new Libc.Timespec { Sec = s, Nsec = ns };
        var t = e.ModificationTime;
        if (t == default) return default;
        long ticks = t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long sec = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rem);
        if (rem < 0) { sec--; rem += TimeSpan.TicksPerSecond; }
        return new Libc.Timespec { Sec = sec, Nsec = rem * 100 };
    }

    /// <summary>Directory mtimes last: every entry written into a directory bumped them. Then the root's mode.</summary>
    private void FinishDirectories()
    {
        DropParentCache();
        var how = new Libc.OpenHow { Flags = (ulong)(FileSys.O_RDONLY | FileSys.O_DIRECTORY | FileSys.O_NOFOLLOW | FileSys.O_CLOEXEC), Resolve = ResolveStrict };
        int rootDir = Libc.OpenAt(_rootFd, "."u8, FileSys.O_RDONLY | FileSys.O_DIRECTORY | FileSys.O_CLOEXEC);
        if (rootDir < 0) throw Libc.Error("open", _rootPath);
        try
        {
            if (!_rootSeen && Libc.Fchmod(rootDir, 0x1ED) != 0) throw Libc.Error("chmod", _rootPath);
            foreach (var (rel, mtime) in _dirTimes)
            {
                _ct.ThrowIfCancellationRequested();
                if (rel.Length == 0)
                {
                    if (Libc.Futimens(rootDir, mtime, mtime) != 0) throw Libc.Error("set times", _rootPath);
                    continue;
                }
                int len = rel.Length;
                rel.CopyTo(_path, 0);
                _path[len] = 0;
                int fd = Libc.OpenAt2(_rootFd, _path.AsSpan(0, len + 1), how);
                if (fd < 0) continue; // replaced by a later entry or removed with its parent
                int r = Libc.Futimens(fd, mtime, mtime);
                Libc.CloseFd(fd);
                if (r != 0) throw Libc.Error("set times", Show(rel));
            }
        }
        finally
        {
            Libc.CloseFd(rootDir);
        }
    }

    private RtException Fail(string problem) =>
        new($"layer entry '{EntryName}' (tar offset {_entryOffset}): {problem}");

    /// <summary>The current entry's raw name, printable (invalid UTF-8 shown as U+FFFD), for messages.</summary>
    private string EntryName => Show(_rawName.AsSpan(0, _rawNameLen));

    private static string Show(ReadOnlySpan<byte> raw) => LayerCompression.Printable(Encoding.UTF8.GetString(raw));

    private RtException FailErrno(string what, int errno = -1)
    {
        if (errno < 0) errno = Libc.Errno;
        return Fail($"{what}: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno)}");
    }

    public void Dispose()
    {
        DropParentCache();
        Libc.CloseFd(_rootFd);
        ArrayPool<byte>.Shared.Return(_data);
    }
}
