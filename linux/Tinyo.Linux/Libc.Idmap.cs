using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// Idmapped mounts (open_tree + mount_setattr(MOUNT_ATTR_IDMAP)) and fsconfig(FSCONFIG_SET_FD): an image container in
// a user namespace sees the shared, host-root-owned layers through an idmapped view instead of a chowned copy.
internal static unsafe partial class Libc
{
    public const uint OPEN_TREE_CLONE = 1, OPEN_TREE_CLOEXEC = 0x80000, FSCONFIG_SET_FD = 5, MOUNT_ATTR_IDMAP = 0x100000;

    [StructLayout(LayoutKind.Sequential)]
    private struct MountAttr
    {
        public ulong AttrSet, AttrClr, Propagation, UsernsFd;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall_open_tree(long nr, int dfd, string path, uint flags);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall_mount_setattr(long nr, int dfd, string path, uint flags, MountAttr* attr, nuint size);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall_fsconfig_fd(long nr, int fd, uint cmd, string key, nint value, int aux);

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SysChown(string path, int uid, int gid);

    /// <summary>A detached copy of the mount at <paramref name="path"/> (OPEN_TREE_CLONE, close-on-exec).</summary>
    public static int OpenTreeClone(string path) => (int)syscall_open_tree(SYS_open_tree, AT_FDCWD_, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);

    /// <summary>Idmaps the detached mount <paramref name="mountFd"/> with the mappings of user namespace <paramref name="usernsFd"/>.</summary>
    public static int MountSetIdmap(int mountFd, int usernsFd)
    {
        var a = new MountAttr { AttrSet = MOUNT_ATTR_IDMAP, UsernsFd = (ulong)usernsFd };
        return (int)syscall_mount_setattr(SYS_mount_setattr, mountFd, "", 0x1000 /* AT_EMPTY_PATH */, &a, (nuint)sizeof(MountAttr));
    }

    /// <summary>fsconfig(FSCONFIG_SET_FD): a file-system parameter given as a descriptor (overlay layers: Linux 6.13+).</summary>
    public static int FsconfigFd(int fs, string key, int fd) => (int)syscall_fsconfig_fd(SYS_fsconfig, fs, FSCONFIG_SET_FD, key, 0, fd);
}
