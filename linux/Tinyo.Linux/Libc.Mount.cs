using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// Mounts: mount(2), umount2(2), pivot_root(2) and the new mount API used to seal the runtime's own executable.
internal static unsafe partial class Libc
{
    public const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_SYNCHRONOUS = 16,
        MS_REMOUNT = 32, MS_MANDLOCK = 64, MS_DIRSYNC = 128, MS_NOSYMFOLLOW = 256, MS_NOATIME = 1024,
        MS_NODIRATIME = 2048, MS_BIND = 4096, MS_MOVE = 8192, MS_REC = 16384, MS_SILENT = 32768,
        MS_UNBINDABLE = 1 << 17, MS_PRIVATE = 1 << 18, MS_SLAVE = 1 << 19, MS_SHARED = 1 << 20,
        MS_RELATIME = 1 << 21, MS_STRICTATIME = 1 << 24, MS_LAZYTIME = 1 << 25;
    public const int MNT_DETACH = 2;
    public const uint FSCONFIG_SET_STRING = 1, FSCONFIG_CMD_CREATE = 6, FSOPEN_CLOEXEC = 1, FSMOUNT_CLOEXEC = 1,
        MOUNT_ATTR_RDONLY = 1, MOUNT_ATTR_NOSUID = 2, MOUNT_ATTR_NODEV = 4;

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(string? source, string target, string? fstype, ulong flags, string? data);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Umount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall_ss(long nr, string a, string b);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall_fsopen(long nr, string fsname, uint flags);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall_fsconfig(long nr, int fd, uint cmd, string? key, string? value, int aux);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_fsmount(long nr, int fd, uint flags, uint attrs);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall_move_mount(long nr, int fromFd, string fromPath, int toFd, string toPath, uint flags);

    public const uint MOVE_MOUNT_F_EMPTY_PATH = 4;
    public static int MoveMount(int fromFd, string fromPath, int toFd, string toPath, uint flags) =>
        (int)syscall_move_mount(SYS_move_mount, fromFd, fromPath, toFd, toPath, flags);
    public static int PivotRoot(string newRoot, string putOld) => (int)syscall_ss(SYS_pivot_root, newRoot, putOld);
    public static int Fsopen(string fsname, uint flags) => (int)syscall_fsopen(SYS_fsopen, fsname, flags);
    public static int Fsconfig(int fd, uint cmd, string? key, string? value, int aux) =>
        (int)syscall_fsconfig(SYS_fsconfig, fd, cmd, key, value, aux);
    public static int Fsmount(int fd, uint flags, uint attrs) => (int)syscall_fsmount(SYS_fsmount, fd, flags, attrs);
}
