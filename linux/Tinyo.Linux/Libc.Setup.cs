using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// Container set-up calls added with the set-up plan (rt/Tinyo.Rt/Setup): chroot(2) for a container that shares the
// host's mount namespace, and mount_setattr(2) with AT_RECURSIVE for recursive read-only bind mounts.
internal static unsafe partial class Libc
{
    /// <summary>x86-64 syscall numbers of the set-up plan's rows.</summary>
    public const long SYS_chroot = 161;
    /// <summary>mount_setattr/open_tree flag: apply to the whole mount tree below the path.</summary>
    public const uint AT_RECURSIVE = 0x8000;

    /// <summary>struct mount_attr (Linux 5.12).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MountAttrSet
    {
        /// <summary>MOUNT_ATTR_* to set, to clear, the propagation type, and a user namespace fd for idmapping.</summary>
        public ulong AttrSet, AttrClr, Propagation, UsernsFd;
    }

    [LibraryImport("libc", EntryPoint = "chroot", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Chroot(string path);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall_mount_setattr_rec(long nr, int dfd, string path, uint flags, MountAttrSet* attr, nuint size);

    /// <summary>Sets <paramref name="attrSet"/> on the mount at <paramref name="fd"/> and every mount below it
    /// (AT_EMPTY_PATH | AT_RECURSIVE): what a bind mount's <c>MS_REMOUNT</c> cannot do for its submounts.</summary>
    public static int MountSetattrRecursive(int fd, ulong attrSet)
    {
        var a = new MountAttrSet { AttrSet = attrSet };
        return (int)syscall_mount_setattr_rec(SYS_mount_setattr, fd, "", 0x1000 /* AT_EMPTY_PATH */ | AT_RECURSIVE, &a, (nuint)sizeof(MountAttrSet));
    }
}
