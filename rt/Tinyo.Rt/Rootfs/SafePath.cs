using Tinyo.Linux;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Rootfs;

/// <summary>
/// Resolves paths inside a container's root filesystem with <c>openat2(RESOLVE_IN_ROOT)</c>: symlinks and <c>..</c>
/// in the (hostile) rootfs are resolved as if the rootfs were <c>/</c>, so a destination can never land outside it,
/// whatever links an image ships. Missing components are created one at a time, each relative to an fd of its parent.
/// </summary>
internal static class SafePath
{
    /// <summary>The magic-link path of an fd, for syscalls that only take paths (mount(2)).</summary>
    public static string ProcFd(int fd) => "/proc/self/fd/" + fd.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Opens <paramref name="path"/> inside <paramref name="rootFd"/> as an O_PATH fd; -1 with errno on failure.</summary>
    public static int Open(int rootFd, string path, int extraFlags = 0) =>
        SysOpenAt2(rootFd, path.TrimStart('/') is { Length: > 0 } p ? p : ".", OFlag.Path | OFlag.Cloexec | extraFlags,
            Resolve.InRoot | Resolve.NoMagicLinks);

    /// <summary>
    /// Opens (creating when missing) <paramref name="path"/> inside <paramref name="rootFd"/>: a directory, or an empty
    /// regular file when <paramref name="file"/> is set (a bind target for a file). Returns an O_PATH fd.
    /// </summary>
    public static int OpenOrCreate(int rootFd, string path, bool file, string what)
    {
        int fd = Open(rootFd, path);
        if (fd >= 0) return fd;
        if (Errno != Errno_.ENOENT) throw Error($"{what}: resolving", path);
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        int dir = SysFcntl(rootFd, F_DUPFD_CLOEXEC, 3);
        if (dir < 0) throw Error("dup");
        try
        {
            for (int i = 0; i < parts.Length; i++)
            {
                bool last = i == parts.Length - 1;
                // Each prefix is resolved from the root, so symlinks on the way mean what they would inside.
                string prefix = string.Join('/', parts, 0, i + 1);
                int next = Open(rootFd, prefix);
                if (next < 0 && Errno == Errno_.ENOENT)
                {
                    // Created relative to the parent's fd: a concurrent symlink swap cannot redirect it.
                    if (last && file)
                    {
                        int f = SysOpenAt(dir, parts[i], OFlag.WrOnly | OFlag.Creat | OFlag.Excl | OFlag.Cloexec | OFlag.NoFollow, 0x1A4 /* 0644 */);
                        if (f < 0 && Errno != Errno_.EEXIST) throw Error($"{what}: creating", path);
                        if (f >= 0) SysClose(f);
                    }
                    else if (SysMkdirAt(dir, parts[i], 0x1ED /* 0755 */) != 0 && Errno != Errno_.EEXIST) throw Error($"{what}: creating", path);
                    // Re-resolved from the root: a dangling symlink in the way fails here instead of being followed out.
                    next = Open(rootFd, prefix);
                }
                if (next < 0) throw Error($"{what}: resolving", path);
                SysClose(dir);
                dir = next;
            }
            int result = dir;
            dir = -1;
            return result;
        }
        finally
        {
            if (dir >= 0) SysClose(dir);
        }
    }
}
