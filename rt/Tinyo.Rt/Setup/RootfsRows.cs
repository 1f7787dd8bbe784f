using Tinyo.Rt.Processes;
using static Tinyo.Linux.Libc;
using static Tinyo.Rt.Processes.SyscallScript;

namespace Tinyo.Rt.Setup;

/// <summary>
/// Row helpers the filesystem steps share: <see cref="Rootfs.SafePath"/> as rows (every destination created one
/// component at a time relative to its parent's fd — EEXIST tolerated — and re-resolved from the root with
/// <c>openat2(RESOLVE_IN_ROOT)</c>; mounts go through <c>/proc/self/fd/N</c> of the planned fd).
/// </summary>
internal static unsafe class RootfsRows
{
    public const int OPath = 0x200000, ODir = 0x10000, OCloexec = 0x80000, ORdOnly = 0;

    /// <summary>struct open_how { flags, mode, resolve } for openat2 inside the rootfs.</summary>
    public static long How(SyscallScript s, int flags, ulong resolve = Resolve.InRoot | Resolve.NoMagicLinks)
    {
        var h = (ulong*)s.Block(24);
        h[0] = (ulong)(uint)flags;
        h[1] = 0;
        h[2] = resolve;
        return (long)h;
    }

    /// <summary>SafePath.OpenOrCreate as rows; returns the planned O_PATH fd of the destination.</summary>
    public static int OpenOrCreate(SyscallScript s, int root, string path, bool file, string what)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) return s.Open($"{what}: resolving {path}", SYS_openat2, root, s.Str("."), How(s, OPath | OCloexec), 24);
        int dir = root;
        for (int i = 0; i < parts.Length; i++)
        {
            bool last = i == parts.Length - 1;
            if (last && file)
                s.Add($"{what}: creating {path}", SYS_mknodat, dir, s.Str(parts[i]), 0x8000 | 0x1A4 /* S_IFREG 0644 */, 0, ok: Ok(Errno_.EEXIST));
            else
                s.Add($"{what}: creating {path}", SYS_mkdirat, dir, s.Str(parts[i]), 0x1ED, ok: Ok(Errno_.EEXIST));
            int next = s.Open($"{what}: resolving {path}", SYS_openat2, root, s.Str(string.Join('/', parts, 0, i + 1)), How(s, OPath | OCloexec), 24);
            if (dir != root) s.Close(dir);
            dir = next;
        }
        return dir;
    }

    /// <summary>Opens <paramref name="dest"/> again (the old fd names the covered directory) as a planned fd.</summary>
    public static int Reopen(SyscallScript s, int root, string dest, string what)
    {
        var rel = dest.TrimStart('/');
        return s.Open(what + " " + dest, SYS_openat2, root, s.Str(rel.Length == 0 ? "." : rel), How(s, OPath | OCloexec), 24);
    }

    /// <summary>MS_REMOUNT|MS_BIND with <paramref name="flags"/> of the mount at <paramref name="dest"/>.</summary>
    public static void Remount(SyscallScript s, int root, string dest, ulong flags)
    {
        int fd = Reopen(s, root, dest, "reopening");
        s.Add("remounting " + dest, SYS_mount, 0, s.FdPath(fd), 0, (long)(MS_REMOUNT | MS_BIND | flags), 0);
        s.Close(fd);
    }

    /// <summary>mount_setattr(AT_RECURSIVE, MOUNT_ATTR_RDONLY) of the mount at <paramref name="dest"/>.</summary>
    public static void ReadOnlyRecursive(SyscallScript s, int root, string dest)
    {
        int fd = Reopen(s, root, dest, "reopening");
        var attr = (ulong*)s.Block(32);
        attr[0] = MOUNT_ATTR_RDONLY;
        s.Add("making read-only recursively " + dest, SYS_mount_setattr, fd, s.Str(""), AT_EMPTY_PATH_ | AT_RECURSIVE, (long)attr, 32);
        s.Close(fd);
    }
}
