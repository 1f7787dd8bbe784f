using System.Security.Cryptography;
using Tinyo.Linux;
using FileSys = Tinyo.Linux.Libc.FileSys;

namespace Tinyo.Rt.Images;

/// <summary>
/// Turns an image layer blob (a tar stream, gzip- or zstd-compressed or plain) into a directory that serves, read-only
/// by convention, as an overlayfs lower dir.
/// </summary>
/// <remarks>
/// <para>What is reproduced: regular files, directories, symlinks, hardlinks, character and block devices and FIFOs;
/// numeric uid/gid (user and group names are ignored, as Docker does); modes including setuid, setgid and sticky
/// (applied after chown, which clears them); mtimes to the nanosecond of PAX records (atime is set to mtime; directory
/// times are applied last, after their contents); PAX <c>SCHILY.xattr.*</c> records in the <c>user.</c>, <c>security.</c> (e.g.
/// <c>security.capability</c>) and <c>system.</c> namespaces. Whiteouts become what overlayfs understands:
/// <c>.wh.NAME</c> → a 0/0 character device NAME, <c>.wh..wh..opq</c> → xattr <c>trusted.overlay.opaque=y</c> on its
/// directory. Names and link targets are taken as raw bytes from the headers (PAX path/linkpath, GNU long names, ustar
/// prefix and name), so names that are not UTF-8 are reproduced exactly, as Docker does.</para>
/// <para>Hostile layers. Nothing is ever written outside the layer's directory; entries are resolved with openat2
/// beneath the root without following any symlink. Policy, entry by entry:</para>
/// <list type="bullet">
/// <item>Absolute names are taken relative to the layer root and <c>a/../b</c> is <c>b</c> (Docker and containerd do the
/// same); a name that climbs above the root with <c>..</c> fails.</item>
/// <item>A name whose parent directory is a symlink (even one pointing inside the layer) fails: layers produced by a
/// file-system walk never contain such names, so they only occur in crafted layers.</item>
/// <item>A hardlink must name an existing non-directory entry of the same layer, reached without symlinks; linking a
/// symlink links the symlink itself (harmless, as in Docker).</item>
/// <item>Duplicate names: the later entry wins (Docker): an existing directory is kept and takes the new metadata when
/// the new entry is a directory, anything else is removed first (a directory with its contents).</item>
/// <item>Device nodes are created as in the image (the layer store must therefore not be reachable by unprivileged
/// users; the runtime keeps it under a 0700 root).</item>
/// <item><c>trusted.*</c> xattrs in the tar are dropped (overlayfs's control namespace: a layer must not forge
/// opaque/redirect/metacopy markers), as is <c>security.selinux</c> (the build host's label).</item>
/// <item>A hardlink entry's own metadata is not applied (the inode already carries its first entry's), as GNU tar does.
/// Whiteout devices are owned like their entry, as in Docker's overlay2 driver.</item>
/// <item>Malformed, truncated or unsupported input fails: bad header checksums (which .NET's TarReader does not check),
/// negative or overflowing sizes, PAX/GNU metadata blocks over 1 MiB (refused before TarReader would allocate them),
/// GNU sparse files, unknown entry types, compressions other than gzip/zstd, foreign and encrypted layer media types. A stream that ends cleanly where the next header would
/// start (no end-of-archive marker), and an empty blob, are accepted, as Go's archive/tar accepts them.</item>
/// </list>
/// <para>Every failure is an <see cref="RtException"/> naming the entry, its tar offset and the problem, and removes the
/// partial directory.</para>
/// <para>Durability: the layer is written back (one <c>syncfs</c>) before it is renamed into place, and the rename is
/// fsynced, so a layer directory that exists after a crash is complete.</para>
/// </remarks>
public static class LayerUnpacker
{
    /// <summary>
    /// Decompresses (gzip/zstd/plain by media type, or by magic bytes when the media type is generic), extracts
    /// securely into a temp sibling of <paramref name="destDir"/> named <c>.NAME.partial-RANDOM</c>, renames it to
    /// <paramref name="destDir"/> when complete (<paramref name="destDir"/> must not exist; if it appears meanwhile
    /// because another process finished the same layer, ours is dropped and the call succeeds), deletes the temp dir
    /// on any failure, and returns the diff_id (sha256 of the uncompressed tar stream, including any trailing data).
    /// </summary>
    /// <param name="layer">The layer blob; read to its end, not disposed.</param>
    /// <param name="mediaType">The descriptor's media type; <c>application/octet-stream</c> or unknown types are sniffed.</param>
    /// <param name="destDir">The directory to create, e.g. <c>ROOT/images/layers/sha256/DIFFID</c>.</param>
    /// <param name="ct">Cancels the unpack (the partial directory is removed).</param>
    /// <exception cref="RtException">The layer is malformed, hostile or unsupported, or the file system failed.</exception>
    public static Task<Digest> UnpackAsync(Stream layer, string mediaType, string destDir, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(layer);
        if (string.IsNullOrWhiteSpace(destDir)) throw new RtException("layer destination directory is empty");
        // The work is synchronous syscalls and decompression: run it on its own thread, not a pool thread.
        return Task.Factory.StartNew(() => Unpack(layer, mediaType, destDir, ct), ct,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    private static Digest Unpack(Stream layer, string mediaType, string destDir, CancellationToken ct)
    {
        string dest = Path.TrimEndingDirectorySeparator(Path.GetFullPath(destDir));
        string? parent = Path.GetDirectoryName(dest);
        string name = Path.GetFileName(dest);
        if (parent is null || name.Length == 0) throw new RtException($"invalid layer destination '{destDir}'");
        try
        {
            System.IO.Directory.CreateDirectory(parent);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RtException($"cannot create {parent}: {e.Message}", e);
        }

        string tmp = Path.Combine(parent, $".{name}.partial-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}");
        // 0700 while in progress: half-written setuid files and device nodes are nobody else's business.
        if (Libc.MkdirAt(FileSys.AT_FDCWD, Libc.Utf8z(tmp), 0x1C0) != 0) throw Libc.Error("mkdir", tmp);
        bool done = false;
        try
        {
            Digest diffId;
            using (var decompressed = LayerCompression.Open(layer, mediaType, out var kind))
            using (var hashing = new HashingStream(decompressed, kind.ToString().ToLowerInvariant()))
            using (var extractor = new LayerExtractor(tmp, hashing, ct))
            {
                extractor.Run();
                hashing.DrainToEnd(extractor.Buffer, ct);
                diffId = hashing.GetDigest();
            }

            // Durable before visible: a layer dir that exists after a crash must be whole. One syncfs writes back
            // every file of the layer at once (an fsync per file would cost a journal commit each).
            int se = Libc.SyncPath(tmp, wholeFs: true);
            if (se != 0) throw Libc.Error("sync", tmp, se);

            if (Libc.RenameAt2(FileSys.AT_FDCWD, Libc.Utf8z(tmp), FileSys.AT_FDCWD, Libc.Utf8z(dest), FileSys.RENAME_NOREPLACE) != 0)
            {
                int e = Libc.Errno;
                // Someone else (another task or process unpacking the same layer) got there first: theirs stands.
                if (e is FileSys.EEXIST or FileSys.ENOTEMPTY)
                {
                    if (!System.IO.Directory.Exists(dest)) throw new RtException($"layer destination {dest} exists and is not a directory");
                    return diffId;
                }
                throw Libc.Error("rename layer into place", dest, e);
            }
            done = true;
            Libc.SyncPath(parent, wholeFs: false); // makes the rename itself durable; best effort
            return diffId;
        }
        catch (Exception e) when (e is not RtException and not OperationCanceledException)
        {
            // Decompressor construction or anything unforeseen: still one clear line.
            throw new RtException($"unpacking layer into {dest}: {e.Message}", e);
        }
        finally
        {
            if (!done) RemoveTree(tmp);
        }
    }

    /// <summary>
    /// Removes an unpacked layer directory (or a leftover <c>.NAME.partial-*</c> one) and everything in it, by file
    /// descriptor and raw names, never following symlinks. Use this rather than <see cref="System.IO.Directory.Delete(string, bool)"/>,
    /// which cannot remove names that are not valid UTF-8 (layers may hold them). A missing directory is not an error.
    /// </summary>
    /// <exception cref="RtException">The directory could not be removed completely.</exception>
    public static void DeleteLayer(string layerDir)
    {
        ArgumentException.ThrowIfNullOrEmpty(layerDir);
        string path = Path.TrimEndingDirectorySeparator(Path.GetFullPath(layerDir));
        int e = LayerTree.Remove(FileSys.AT_FDCWD, Libc.Utf8z(path));
        if (e != 0) throw Libc.Error("remove layer", path, e);
    }

    private static void RemoveTree(string path)
    {
        // By fd and raw names (a layer may hold names that are not UTF-8), never following symlinks. Best effort: a
        // leftover .partial- dir is recognisable and the store's cleaner removes it.
        LayerTree.Remove(FileSys.AT_FDCWD, Libc.Utf8z(path));
    }
}
