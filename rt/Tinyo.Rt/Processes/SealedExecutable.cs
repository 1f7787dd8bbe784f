using Tinyo.Linux;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Processes;

/// <summary>
/// An fd of the runtime's own executable that a container cannot write through (CVE-2019-5736). The container's
/// init is this binary; while it runs, <c>/proc/PID/exe</c> of init names the binary, and a process inside the
/// container that can reach it could open it for writing once init has exec'd and overwrite the host's runtime.
/// </summary>
/// <remarks>
/// Primary: the binary's directory as the lower layer of a detached, upper-less overlayfs (plus an empty detached
/// tmpfs, since overlayfs wants two lower layers without an upper). An overlay without an upper directory is
/// read-only by construction and cannot be remounted writable, so <c>/proc/PID/exe</c> points into a filesystem where
/// every open for writing fails with EROFS. It costs a few mount syscalls, not a copy of a 10 MB binary. Fallback
/// (no overlayfs, odd characters in the path): a sealed memfd copy, as runc does.
/// </remarks>
internal static class SealedExecutable
{
    /// <summary>Opens <paramref name="path"/> sealed; returns an fd (O_CLOEXEC) suitable for execveat(AT_EMPTY_PATH).</summary>
    public static int Open(string path)
    {
        int fd = TryOverlay(path);
        return fd >= 0 ? fd : MemfdCopy(path);
    }

    private static int TryOverlay(string path)
    {
        string dir = Path.GetDirectoryName(path)!, name = Path.GetFileName(path);
        if (dir.IndexOfAny([':', ',', '\\']) >= 0) return -1;
        int tfs = -1, tmnt = -1, ofs = -1, omnt = -1;
        try
        {
            tfs = Fsopen("tmpfs", FSOPEN_CLOEXEC);
            if (tfs < 0 || Fsconfig(tfs, FSCONFIG_CMD_CREATE, null, null, 0) < 0) return -1;
            tmnt = Fsmount(tfs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
            if (tmnt < 0) return -1;
            ofs = Fsopen("overlay", FSOPEN_CLOEXEC);
            if (ofs < 0) return -1;
            if (Fsconfig(ofs, FSCONFIG_SET_STRING, "lowerdir", dir + ":/proc/self/fd/" + tmnt, 0) < 0) return -1;
            if (Fsconfig(ofs, FSCONFIG_CMD_CREATE, null, null, 0) < 0) return -1;
            omnt = Fsmount(ofs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
            if (omnt < 0) return -1;
            return SysOpenAt(omnt, name, OFlag.Path | OFlag.Cloexec, 0);
        }
        finally
        {
            foreach (var fd in new[] { omnt, ofs, tmnt, tfs }) if (fd >= 0) SysClose(fd);
        }
    }

    private static unsafe int MemfdCopy(string path)
    {
        int src = SysOpen(path, OFlag.RdOnly | OFlag.Cloexec, 0);
        if (src < 0) throw Error("opening the runtime executable", path);
        int mfd = SysMemfdCreate("tinyort", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        try
        {
            if (mfd < 0) throw Error("memfd_create");
            while (true)
            {
                nint n = SysSendfile(mfd, src, null, 1 << 30);
                if (n < 0) throw Error("copying the runtime executable", path);
                if (n == 0) break;
            }
            if (SysFcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) throw Error("sealing the memfd");
            int r = mfd;
            mfd = -1;
            return r;
        }
        finally
        {
            SysClose(src);
            if (mfd >= 0) SysClose(mfd);
        }
    }
}
