using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Containers;

/// <summary>
/// Checks (and, as Docker's <c>-v</c> does, creates) the host source of a bind mount. A missing source becomes a
/// root-owned 0755 directory made one component at a time below an <c>O_PATH</c> descriptor of its parent
/// (<c>openat2</c> with <c>RESOLVE_NO_SYMLINKS</c>, <c>mkdirat</c>, then the new directory opened again without
/// following links), so a symlink planted anywhere on the way — by a container writing into a bound directory, say —
/// never redirects the creation. Sources under a forbidden directory (the node's own state and socket
/// directories) are refused, by their path and by where they really lead once created or resolved.
/// </summary>
public static class MountSource
{
    private const uint DirMode = 0x1ED; // 0755

    /// <summary>
    /// Returns the source to mount (its normalised absolute path). Throws <see cref="RtException"/> naming the
    /// mount <paramref name="what"/> when it is missing and <paramref name="create"/> is off, when it cannot be
    /// created without following a symlink, or when it lies under one of <paramref name="forbidden"/>.
    /// </summary>
    public static string Ensure(string source, bool create, IReadOnlyList<string> forbidden, string what)
    {
        if (!source.StartsWith('/') || source.Contains('\0')) throw new RtException($"invalid mount {what}: the source must be an absolute host path");
        var path = Path.GetFullPath(source);
        Refuse(path, forbidden, what);
        bool exists = File.Exists(path) || Directory.Exists(path);
        if (!exists)
        {
            if (!create) throw new RtException($"mount source {source} does not exist (target {TargetOf(what)})");
            Create(path, what);
        }
        // Where it really leads (an existing source may be a symlink, as with Docker): not into a forbidden directory.
        string real;
        try { real = RealPath(path); }
        catch (IOException e) { throw new RtException($"mount {what}: {e.Message}"); }
        Refuse(real, forbidden, what);
        return path;
    }

    private static string TargetOf(string what)
    {
        int i = what.IndexOf(" → ", StringComparison.Ordinal);
        return i < 0 ? what : what[(i + 3)..];
    }

    private static void Refuse(string path, IReadOnlyList<string> forbidden, string what)
    {
        foreach (var f in forbidden)
        {
            if (string.IsNullOrEmpty(f)) continue;
            var dir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(f));
            if (path == dir || path.StartsWith(dir + "/", StringComparison.Ordinal) || dir.StartsWith(path == "/" ? "/" : path + "/", StringComparison.Ordinal))
                throw new RtException($"mount {what}: the source {path} is (or contains) the node's own directory {dir}; refused");
        }
    }

    /// <summary>mkdir -p without following any symlink, each new directory root-owned 0755.</summary>
    private static void Create(string path, string what)
    {
        int dir = SysOpenAt2(AT_FDCWD_, "/", OFlag.Path | OFlag.Directory | OFlag.Cloexec, Resolve.NoSymlinks);
        if (dir < 0) throw Error("opening", "/");
        try
        {
            var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            for (int i = 0; i < parts.Length; i++)
            {
                var name = parts[i];
                int next = SysOpenAt2(dir, name, OFlag.Path | OFlag.Directory | OFlag.Cloexec, Resolve.NoSymlinks | Resolve.Beneath);
                if (next < 0 && Errno == Errno_.ENOENT)
                {
                    if (SysMkdirAt(dir, name, DirMode) != 0 && Errno != Errno_.EEXIST)
                        throw new RtException($"mount {what}: cannot create the source directory {Prefix(parts, i)}: {Describe(Errno)}");
                    // Opened for real (not O_PATH) so fchown/fchmod act on the directory just made, never on a
                    // symlink swapped in meanwhile (O_NOFOLLOW | O_DIRECTORY fail on one).
                    int made = SysOpenAt(dir, name, OFlag.RdOnly | OFlag.Directory | OFlag.NoFollow | OFlag.Cloexec, 0);
                    if (made < 0) throw new RtException($"mount {what}: {Prefix(parts, i)} is not a directory (or was replaced by a symlink): {Describe(Errno)}");
                    try
                    {
                        if (Fchown(made, 0, 0) != 0 || Fchmod(made, DirMode) != 0)
                            throw new RtException($"mount {what}: cannot set owner and mode of {Prefix(parts, i)}: {Describe(Errno)}");
                    }
                    finally { SysClose(made); }
                    next = SysOpenAt2(dir, name, OFlag.Path | OFlag.Directory | OFlag.Cloexec, Resolve.NoSymlinks | Resolve.Beneath);
                }
                if (next < 0)
                {
                    var why = Errno is 40 /* ELOOP */ or Errno_.ENOTDIR or 18 /* EXDEV */
                        ? "is a symlink or not a directory; a missing mount source is only created through real directories"
                        : Describe(Errno);
                    throw new RtException($"mount {what}: {Prefix(parts, i)} {why}");
                }
                SysClose(dir);
                dir = next;
            }
        }
        finally { SysClose(dir); }
    }

    private static string Prefix(string[] parts, int i) => "/" + string.Join('/', parts, 0, i + 1);

    private static string RealPath(string path)
    {
        int fd = SysOpen(path, OFlag.Path | OFlag.Cloexec, 0);
        if (fd < 0) throw new IOException($"cannot open {path}: {Describe(Errno)}");
        try
        {
            var link = $"/proc/self/fd/{fd}";
            return new FileInfo(link).LinkTarget ?? path;
        }
        finally { SysClose(fd); }
    }

    private static string Describe(int errno) => System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno);
}
