using Tinyo.Rt.Containers;
using Tinyo.Linux;
using Tinyo.Rt.Oci;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Rootfs;

/// <summary>
/// The init back-end's filesystem primitives (<see cref="Setup.LibcSetupCalls"/>); the order they run in is the
/// set-up plan's (<see cref="Setup.ContainerPlan"/>). Builds the container's filesystem view. Runs in the container's init, inside its fresh mount namespace (and pid
/// namespace, so a proc mount shows the container's processes), before the process's credentials are dropped.
/// </summary>
/// <remarks>
/// Order: make <c>/</c> rslave (nothing mounted here propagates to the host, host unmounts still reach us), bind the
/// rootfs onto itself (pivot_root needs a mount point), mount the spec's mounts with every destination resolved
/// inside the rootfs (<see cref="SafePath"/>), create /dev nodes and links, pivot_root and detach the old root, then
/// read-only root, masked and read-only paths. Every mount lives in the container's mount namespace, so the kernel
/// removes all of them when the last process of the container exits: nothing is left on the host to clean up.
/// </remarks>
internal static class RootfsBuilder
{
    private static readonly (string Name, uint Major, uint Minor)[] DefaultDevices =
        [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

    /// <summary>Mounts the rootfs: the overlay the parent built (user namespace), an overlay of the image's layers,
    /// or the bundle's rootfs bound onto itself (pivot_root needs a mount point). Returns an O_PATH fd of it.</summary>
    public static int MountRootfs(InitConfig c)
    {
        if (c.OverlayMountFd >= 0)
        {
            // In a user namespace the parent built the (idmapped) overlay: attach it.
            if (MoveMount(c.OverlayMountFd, "", AT_FDCWD_, c.Rootfs, MOVE_MOUNT_F_EMPTY_PATH) != 0) throw Error("attaching the overlay rootfs on", c.Rootfs);
            SysClose(c.OverlayMountFd);
            c.OverlayMountFd = -1;
        }
        else if (c.OverlayLower is { Count: > 0 }) Overlay.Mount(c.OverlayLower, c.OverlayUpper!, c.OverlayWork!, c.Rootfs);
        else if (Mount(c.Rootfs, c.Rootfs, null, MS_BIND | MS_REC, null) != 0) throw Error("bind-mounting the rootfs", c.Rootfs);
        int root = SysOpen(c.Rootfs, OFlag.Path | OFlag.Directory | OFlag.Cloexec, 0);
        if (root < 0) throw Error("opening the rootfs", c.Rootfs);
        return root;
    }

    /// <summary>pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then removes it, with
    /// no need for a put_old directory inside the (possibly read-only) rootfs.</summary>
    public static void PivotInto(int root, string rootfs)
    {
        try
        {
            if (SysFchdir(root) != 0) throw Error("chdir to the rootfs");
            if (PivotRoot(".", ".") != 0) throw Error("pivot_root", rootfs);
            if (Umount2(".", MNT_DETACH) != 0) throw Error("detaching the old root");
            if (SysChdir("/") != 0) throw Error("chdir /");
        }
        finally { SysClose(root); }
    }

    /// <summary>Bind-mounts <paramref name="source"/> on <paramref name="dest"/> inside <paramref name="root"/>.</summary>
    public static void Bind(int root, string source, string dest, bool file, bool recursive)
    {
        int target = SafePath.OpenOrCreate(root, dest, file, "mount destination");
        try
        {
            if (Mount(source, SafePath.ProcFd(target), null, MS_BIND | (recursive ? MS_REC : 0), null) != 0)
                throw Error($"bind-mounting {source} on", dest);
        }
        finally { SysClose(target); }
    }

    /// <summary>Mounts a filesystem on <paramref name="dest"/> inside <paramref name="root"/>.</summary>
    public static void MountFs(int root, string source, string dest, string type, ulong flags, string? data)
    {
        int target = SafePath.OpenOrCreate(root, dest, false, "mount destination");
        try
        {
            if (Mount(source, SafePath.ProcFd(target), type, flags, data) != 0) throw Error($"mounting {type} on", dest);
        }
        finally { SysClose(target); }
    }

    /// <summary>Read-only for the mount at <paramref name="dest"/> and every mount below it.</summary>
    public static void ReadOnlyRecursive(int root, string dest)
    {
        _ = Reopen(root, dest, out int fd);
        try
        {
            if (MountSetattrRecursive(fd, MOUNT_ATTR_RDONLY) != 0) throw Error("making read-only recursively", dest);
        }
        finally { SysClose(fd); }
    }

    /// <summary>Sets the propagation of the mount at <paramref name="dest"/>.</summary>
    public static void SetPropagation(int root, string dest, ulong flag)
    {
        var t2 = Reopen(root, dest, out int fd);
        try
        {
            if (Mount(null, t2, null, flag, null) != 0) throw Error("setting propagation of", dest);
        }
        finally { SysClose(fd); }
    }

    private static string Reopen(int root, string dest, out int fd)
    {
        fd = SafePath.Open(root, dest);
        if (fd < 0) throw Error("reopening", dest);
        return SafePath.ProcFd(fd);
    }

    /// <summary>Remounts the bind mount at <paramref name="dest"/> with <paramref name="flags"/>.</summary>
    public static void Remount(int root, string dest, ulong flags)
    {
        var t = Reopen(root, dest, out int fd);
        try
        {
            if (Mount(null, t, null, MS_REMOUNT | MS_BIND | flags, null) != 0) throw Error("remounting", dest);
        }
        finally { SysClose(fd); }
    }

    /// <summary>
    /// A <c>cgroup</c> mount: cgroup2 on a unified host; on a v1 or hybrid host a tmpfs with one directory per v1
    /// hierarchy, each mounted with the host's options (inside a cgroup namespace it shows the container's own
    /// cgroup as its root).
    /// </summary>
    public static void MountCgroup(InitConfig c, int root, SpecMount m, MountOptions o)
    {
        ulong flags = o.Flags | MS_NOSUID | MS_NODEV | MS_NOEXEC;
        int target = SafePath.OpenOrCreate(root, m.Destination, false, "mount destination");
        bool pendingV2 = false;
        try
        {
            if (c.CgroupV2)
            {
                if (Mount("cgroup2", SafePath.ProcFd(target), "cgroup2", flags, null) != 0) throw Error("mounting cgroup2 on", m.Destination);
                if (c.CgroupSubpaths.Count > 0) pendingV2 = true;
                return;
            }
            if (Mount("tmpfs", SafePath.ProcFd(target), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") != 0)
                throw Error("mounting tmpfs on", m.Destination);
        }
        finally
        {
            SysClose(target);
            if (pendingV2) OwnCgroupOnly(root, m.Destination.TrimEnd('/'), c.CgroupSubpaths[0], o.ReadOnly);
        }
        for (int i = 0; i < c.CgroupV1Hierarchies.Count; i++)
        {
            string h = c.CgroupV1Hierarchies[i];
            string name = h.StartsWith("name=") ? h[5..] : h;
            string dest = m.Destination.TrimEnd('/') + "/" + name;
            int d = SafePath.OpenOrCreate(root, dest, false, "cgroup mount");
            try
            {
                string opts = h.StartsWith("name=") ? "none," + h : h;
                if (Mount("cgroup", SafePath.ProcFd(d), "cgroup", flags, opts) != 0) throw Error("mounting cgroup " + h + " on", dest);
            }
            finally { SysClose(d); }
            if (i < c.CgroupSubpaths.Count) OwnCgroupOnly(root, dest, c.CgroupSubpaths[i], o.ReadOnly);
        }
        if (o.ReadOnly) Remount(root, m.Destination, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }

    /// <summary>
    /// A container without its own cgroup namespace sees only its own directory of the hierarchy mounted at
    /// <paramref name="dest"/> (see <see cref="Cgroups.CgroupView"/>): that directory is bind-mounted over the
    /// hierarchy, then made read-only again, since a bind mount does not inherit the flag.
    /// </summary>
    private static void OwnCgroupOnly(int root, string dest, string subpath, bool readOnly)
    {
        if (subpath.Length == 0) return;
        int src = SafePath.Open(root, dest + "/" + subpath, (int)OFlag.Directory);
        if (src < 0) throw Error("opening the container's cgroup under", dest);
        try
        {
            var on = Reopen(root, dest, out int fd);
            try
            {
                if (Mount(SafePath.ProcFd(src), on, null, MS_BIND, null) != 0) throw Error("bind-mounting the container's own cgroup on", dest);
            }
            finally { SysClose(fd); }
        }
        finally { SysClose(src); }
        if (readOnly) Remount(root, dest, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }


    /// <summary>An empty file at <paramref name="name"/> in <paramref name="dir"/> with the host's
    /// <paramref name="hostPath"/> bind-mounted on it.</summary>
    internal static void BindHostDevice(int dir, string name, string hostPath)
    {
        int f = SysOpenAt(dir, name, OFlag.WrOnly | OFlag.Creat | OFlag.Cloexec | OFlag.NoFollow, 0x1B6);
        if (f < 0 && Errno != Errno_.EEXIST) throw Error("creating device mount point", hostPath);
        if (f >= 0) SysClose(f);
        int t = SysOpenAt(dir, name, OFlag.Path | OFlag.Cloexec | OFlag.NoFollow, 0);
        if (t < 0) throw Error("opening device mount point", hostPath);
        try
        {
            if (Mount(hostPath, SafePath.ProcFd(t), null, MS_BIND, null) != 0) throw Error("bind-mounting device", hostPath);
        }
        finally { SysClose(t); }
    }

    /// <summary>The default /dev nodes (bind mounts of the host's in a user namespace) and links.</summary>
    public static void CreateDefaultDevices(int root, bool userNs)
    {
        int dev = SafePath.OpenOrCreate(root, "/dev", false, "/dev");
        // mknodat needs a real directory fd, not O_PATH.
        int dir = SysOpenAt(dev, ".", OFlag.RdOnly | OFlag.Directory | OFlag.Cloexec, 0);
        SysClose(dev);
        if (dir < 0) throw Error("opening /dev");
        try
        {
            foreach (var (name, major, minor) in DefaultDevices)
            {
                if (SysMknodAt(dir, name, 0x2000 /* S_IFCHR */ | 0x1B6 /* 0666 */, Makedev(major, minor)) != 0 && Errno != Errno_.EEXIST)
                {
                    // In a user namespace mknod is refused: bind the host's node instead (runc does the same).
                    if (Errno == Errno_.EPERM && userNs) { BindHostDevice(dir, name, "/dev/" + name); continue; }
                    throw Error("creating device", "/dev/" + name);
                }
                SysFchmodAt(dir, name, 0x1B6 /* 0666 */, 0);
            }
            foreach (var (link, target) in new[] { ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore") })
                if (SysSymlinkAt(target, dir, link) != 0 && Errno != Errno_.EEXIST) throw Error("creating symlink", "/dev/" + link);
        }
        finally { SysClose(dir); }
    }

    /// <summary>A node of <c>linux.devices</c>.</summary>
    public static void CreateDevice(int root, SpecDevice d)
    {
        string parent = Path.GetDirectoryName(d.Path) ?? "/dev";
        string name = Path.GetFileName(d.Path);
        int p = SafePath.OpenOrCreate(root, parent, false, "device directory");
        int dir = SysOpenAt(p, ".", OFlag.RdOnly | OFlag.Directory | OFlag.Cloexec, 0);
        SysClose(p);
        if (dir < 0) throw Error("opening", parent);
        try
        {
            uint type = d.Type switch { "b" => 0x6000u, "p" => 0x1000u, _ => 0x2000u };
            uint mode = d.FileMode ?? 0x1B6 /* 0666 */;
            if (SysMknodAt(dir, name, type | (mode & 0xFFF /* 07777 */), Makedev((ulong)d.Major, (ulong)d.Minor)) != 0 && Errno != Errno_.EEXIST)
                throw Error("creating device", d.Path);
            SysFchmodAt(dir, name, mode & 0xFFF /* 07777 */, 0);
            if (d.Uid is not null || d.Gid is not null)
                SysFchownAt(dir, name, d.Uid ?? 0, d.Gid ?? 0, AT_SYMLINK_NOFOLLOW_);
        }
        finally { SysClose(dir); }
    }

    /// <summary>Masks a path: a read-only empty tmpfs over a directory, /dev/null over anything else.</summary>
    public static void Mask(string path)
    {
        int fd = SysOpenAt2(AT_FDCWD_, path, OFlag.Path | OFlag.Cloexec, Resolve.InRoot | Resolve.NoMagicLinks);
        if (fd < 0)
        {
            if (Errno == Errno_.ENOENT) return;
            throw Error("masking", path);
        }
        try
        {
            bool dir = Directory.Exists(SafePath.ProcFd(fd));
            int r = dir
                ? Mount("tmpfs", SafePath.ProcFd(fd), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=000")
                : Mount("/dev/null", SafePath.ProcFd(fd), null, MS_BIND, null);
            if (r != 0) throw Error("masking", path);
        }
        finally { SysClose(fd); }
    }

    /// <summary>A read-only bind of <paramref name="path"/> over itself.</summary>
    public static void MakeReadonly(string path)
    {
        int fd = SysOpenAt2(AT_FDCWD_, path, OFlag.Path | OFlag.Cloexec, Resolve.InRoot | Resolve.NoMagicLinks);
        if (fd < 0)
        {
            if (Errno == Errno_.ENOENT) return;
            throw Error("making read-only", path);
        }
        try
        {
            if (Mount(SafePath.ProcFd(fd), SafePath.ProcFd(fd), null, MS_BIND | MS_REC, null) != 0) throw Error("bind-mounting", path);
        }
        finally { SysClose(fd); }
        fd = SysOpenAt2(AT_FDCWD_, path, OFlag.Path | OFlag.Cloexec, Resolve.InRoot | Resolve.NoMagicLinks);
        if (fd < 0) throw Error("reopening", path);
        try
        {
            if (Mount(null, SafePath.ProcFd(fd), null, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, null) != 0)
                throw Error("remounting read-only", path);
        }
        finally { SysClose(fd); }
    }
}
