using Tinyo.Rt.Oci;
using Tinyo.Rt.Rootfs;
using static Tinyo.Linux.Libc;
using static Tinyo.Rt.Processes.SyscallScript;
using static Tinyo.Rt.Setup.RootfsRows;

namespace Tinyo.Rt.Setup;

/// <summary>/ becomes rslave: nothing mounted from here on propagates to the host; host unmounts still reach us.</summary>
internal sealed class RootSlaveStep : SetupStep, IRowStep
{
    public override string Name => "make / rslave";
    public void Emit(RowContext ctx) => ctx.S.Add("making / rslave", SYS_mount, 0, ctx.S.Str("/"), 0, (long)(MS_SLAVE | MS_REC), 0);
    public override void Apply(InitContext ctx) => ctx.Calls.MakeRootSlave();
}

/// <summary>
/// The root filesystem: an overlay of the image's layers (mounted in the container's mount namespace, so it vanishes
/// with it), or the bundle's rootfs bound onto itself (pivot_root needs a mount point); then an fd of it, which the
/// later mount steps resolve their destinations in.
/// </summary>
internal sealed class RootfsStep(Containers.InitConfig c) : SetupStep, IRowStep
{
    public override string Name => c.OverlayLower is { Count: > 0 } ? "mount the overlay rootfs on " + c.Rootfs : "bind the rootfs " + c.Rootfs;

    public string? DirectDecline =>
        c.OverlayLower is { Count: > 0 } lower
        && System.Text.Encoding.UTF8.GetByteCount(Overlay.Options(lower, c.OverlayUpper!, c.OverlayWork!)) > Overlay.MaxOptions
            ? "long overlay option string" : null; // the fsopen/fsconfig path is init's

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        if (c.OverlayLower is { Count: > 0 } lower)
        {
            // As Overlay.Mount: the option string is comma- and colon-separated, so odd paths are refused.
            foreach (var l in lower) Overlay.CheckPath(l);
            Overlay.CheckPath(c.OverlayUpper!);
            Overlay.CheckPath(c.OverlayWork!);
            s.Add("mounting the overlay rootfs on " + c.Rootfs, SYS_mount, s.Str("overlay"), s.Str(c.Rootfs), s.Str("overlay"), (long)MS_NODEV,
                s.Str(Overlay.Options(lower, c.OverlayUpper!, c.OverlayWork!)));
        }
        else s.Add("bind-mounting the rootfs " + c.Rootfs, SYS_mount, s.Str(c.Rootfs), s.Str(c.Rootfs), 0, (long)(MS_BIND | MS_REC), 0);
        ctx.Root = s.Open("opening the rootfs " + c.Rootfs, SYS_openat, AT_FDCWD_, s.Str(c.Rootfs), OPath | ODir | OCloexec);
    }

    public override void Apply(InitContext ctx) => ctx.Root = ctx.Calls.MountRootfs(ctx.Config, ctx.SyncFd);
}

/// <summary>One of the spec's mounts (not cgroup): a bind (then remounted with its flags, and made read-only
/// recursively when it is a read-only recursive bind: <c>rro</c>) or a filesystem; then its propagation.</summary>
internal sealed class MountStep(SpecMount m) : SetupStep, IRowStep
{
    private readonly MountOptions _o = MountOptions.Parse(m.Options);
    private string Type => m.Type ?? "";
    private bool Bind => _o.Bind || Type is "" or "bind";

    /// <summary>The mount.</summary>
    public SpecMount Mount => m;

    public override string Name => Bind
        ? $"bind {m.Source} on {m.Destination}{(_o.RecursiveReadOnly ? " (recursively read-only)" : "")}"
        : $"mount {Type} on {m.Destination}";

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        int root = ctx.Root;
        int target = OpenOrCreate(s, root, m.Destination, Bind && !Directory.Exists(m.Source), "mount destination");
        if (Bind)
        {
            s.Add($"bind-mounting {m.Source} on {m.Destination}", SYS_mount, s.Str(m.Source!), s.FdPath(target), 0, (long)(MS_BIND | (_o.Flags & MS_REC)), 0);
            ulong rest = _o.Flags & ~(MS_BIND | MS_REC);
            if (rest != 0) Remount(s, root, m.Destination, rest);
            if (_o.RecursiveReadOnly) ReadOnlyRecursive(s, root, m.Destination);
        }
        else
            s.Add($"mounting {Type} on {m.Destination}", SYS_mount, s.Str(m.Source ?? Type), s.FdPath(target), s.Str(Type), (long)_o.Flags,
                _o.Data is null ? 0 : s.Str(_o.Data));
        foreach (var p in _o.Propagation)
        {
            int fd = Reopen(s, root, m.Destination, "reopening");
            s.Add("setting propagation of " + m.Destination, SYS_mount, 0, s.FdPath(fd), 0, (long)p, 0);
            s.Close(fd);
        }
        s.Close(target);
    }

    public override void Apply(InitContext ctx)
    {
        var calls = ctx.Calls;
        if (Bind)
        {
            // A bind mount ignores other flags: they take effect by remounting the new mount.
            calls.BindMount(ctx.Root, m.Source!, m.Destination, !Directory.Exists(m.Source), (_o.Flags & MS_REC) != 0);
            ulong rest = _o.Flags & ~(MS_BIND | MS_REC);
            if (rest != 0) calls.Remount(ctx.Root, m.Destination, rest);
            if (_o.RecursiveReadOnly) calls.ReadOnlyRecursive(ctx.Root, m.Destination);
        }
        else calls.MountFilesystem(ctx.Root, m.Source ?? Type, m.Destination, Type, _o.Flags, _o.Data);
        foreach (var p in _o.Propagation) calls.SetPropagation(ctx.Root, m.Destination, p);
    }
}

/// <summary>A <c>cgroup</c> mount: cgroup2, or a tmpfs with one mount per v1 hierarchy; without a cgroup namespace
/// each shows only the container's own directory (<see cref="Cgroups.CgroupView"/>).</summary>
internal sealed class CgroupMountStep(Containers.InitConfig c, SpecMount m) : SetupStep, IRowStep
{
    public override string Name => "mount cgroup on " + m.Destination;

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        int root = ctx.Root;
        var o = MountOptions.Parse(m.Options);
        ulong flags = o.Flags | MS_NOSUID | MS_NODEV | MS_NOEXEC;
        int target = OpenOrCreate(s, root, m.Destination, false, "mount destination");
        if (c.CgroupV2)
        {
            s.Add("mounting cgroup2 on " + m.Destination, SYS_mount, s.Str("cgroup2"), s.FdPath(target), s.Str("cgroup2"), (long)flags, 0);
            s.Close(target);
            if (c.CgroupSubpaths.Count > 0) OwnCgroupOnly(s, root, m.Destination.TrimEnd('/'), c.CgroupSubpaths[0], o.ReadOnly);
            return;
        }
        s.Add("mounting tmpfs on " + m.Destination, SYS_mount, s.Str("tmpfs"), s.FdPath(target), s.Str("tmpfs"),
            (long)(MS_NOSUID | MS_NODEV | MS_NOEXEC), s.Str("mode=755"));
        s.Close(target);
        for (int i = 0; i < c.CgroupV1Hierarchies.Count; i++)
        {
            string h = c.CgroupV1Hierarchies[i];
            string name = h.StartsWith("name=", StringComparison.Ordinal) ? h[5..] : h;
            string dest = m.Destination.TrimEnd('/') + "/" + name;
            int d = OpenOrCreate(s, root, dest, false, "cgroup mount");
            string opts = h.StartsWith("name=", StringComparison.Ordinal) ? "none," + h : h;
            s.Add($"mounting cgroup {h} on {dest}", SYS_mount, s.Str("cgroup"), s.FdPath(d), s.Str("cgroup"), (long)flags, s.Str(opts));
            s.Close(d);
            if (i < c.CgroupSubpaths.Count) OwnCgroupOnly(s, root, dest, c.CgroupSubpaths[i], o.ReadOnly);
        }
        if (o.ReadOnly) Remount(s, root, m.Destination, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }

    /// <summary>The container's own directory of the hierarchy just mounted at <paramref name="dest"/> bind-mounted
    /// over it (read-only again: a bind does not inherit the flag).</summary>
    private static void OwnCgroupOnly(Processes.SyscallScript s, int root, string dest, string subpath, bool readOnly)
    {
        if (subpath.Length == 0) return;
        var rel = dest.TrimStart('/');
        int src = s.Open("opening the container's cgroup under " + dest, SYS_openat2, root, s.Str(rel + "/" + subpath), How(s, OPath | OCloexec | ODir), 24);
        int on = s.Open("reopening " + dest, SYS_openat2, root, s.Str(rel), How(s, OPath | OCloexec), 24);
        s.Add("bind-mounting the container's own cgroup on " + dest, SYS_mount, s.FdPath(src), s.FdPath(on), 0, (long)MS_BIND, 0);
        s.Close(on);
        s.Close(src);
        if (readOnly) Remount(s, root, dest, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }

    public override void Apply(InitContext ctx) => ctx.Calls.MountCgroup(ctx.Config, ctx.Root, m);
}

/// <summary>The default nodes (null, zero, full, random, urandom, tty) and links (fd, stdin, …, ptmx) of a /dev
/// tmpfs.</summary>
internal sealed class DevNodesStep : SetupStep, IRowStep
{
    private static readonly (string Name, uint Major, uint Minor)[] DefaultDevices =
        [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];
    private static readonly (string Link, string Target)[] DefaultLinks =
        [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
         ("ptmx", "pts/ptmx"), ("core", "/proc/kcore")];

    public override string Name => "default /dev nodes";

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        int dev = s.Open("opening /dev", SYS_openat2, ctx.Root, s.Str("dev"), How(s, ORdOnly | ODir | OCloexec), 24);
        foreach (var (name, major, minor) in DefaultDevices)
        {
            s.Add("creating device /dev/" + name, SYS_mknodat, dev, s.Str(name), 0x2000 | 0x1B6, (long)Makedev(major, minor), ok: Ok(Errno_.EEXIST));
            s.Add("chmod /dev/" + name, SYS_fchmodat, dev, s.Str(name), 0x1B6, 0);
        }
        foreach (var (link, target) in DefaultLinks)
            s.Add("creating symlink /dev/" + link, SYS_symlinkat, s.Str(target), dev, s.Str(link), ok: Ok(Errno_.EEXIST));
        s.Close(dev);
    }

    public override void Apply(InitContext ctx) => ctx.Calls.CreateDefaultDevices(ctx.Root, ctx.Config.UserNs);
}

/// <summary>A node of <c>linux.devices</c> (init only: mode, owner and a user namespace's bind fallback).</summary>
internal sealed class DeviceStep(SpecDevice d) : SetupStep
{
    public override string Name => "device " + d.Path;
    public override string Reason => "devices";
    public override void Apply(InitContext ctx) => ctx.Calls.CreateDevice(ctx.Root, d);
}

/// <summary>OCI hooks that run before pivot_root: the parent runs prestart/createRuntime (init pauses), init runs
/// createContainer in the container's namespaces. Rows cannot pause for the parent, so hooks take the init path.</summary>
internal sealed class HooksBeforePivotStep : SetupStep
{
    public override string Name => "hooks before pivot_root";
    public override string Reason => "hooks";

    public override void Apply(InitContext ctx)
    {
        var c = ctx.Config;
        if (c.PauseBeforePivot || Hooks.Any(c.CreateContainerHooks)) ctx.Calls.RunHooksBeforePivot(c, ctx.SyncFd);
    }
}

/// <summary>pivot_root(".", ".") into the rootfs, then the old root (stacked on the new one) is detached.</summary>
internal sealed class PivotRootStep(string rootfs) : SetupStep, IRowStep
{
    public override string Name => "pivot_root " + rootfs;

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        s.Add("chdir to the rootfs", SYS_fchdir, ctx.Root);
        s.Add("pivot_root " + rootfs, SYS_pivot_root, s.Str("."), s.Str("."));
        s.Add("detaching the old root", SYS_umount2, s.Str("."), MNT_DETACH);
        s.Add("chdir /", SYS_chdir, s.Str("/"));
        s.Close(ctx.Root);
        ctx.Root = -1;
    }

    public override void Apply(InitContext ctx)
    {
        ctx.Calls.PivotRoot(ctx.Root, rootfs);
        ctx.Root = -1;
    }
}

/// <summary>
/// A container that shares the host's mount namespace (the spec lists no mount namespace, which the OCI spec allows):
/// the process is chroot'ed into the rootfs. Nothing is mounted — any mount would land in the host's mount table —
/// so the spec's mounts, masked and read-only paths are not applied (<see cref="Oci.Bundle"/> warns).
/// </summary>
internal sealed class ChrootStep(string rootfs) : SetupStep, IRowStep
{
    public override string Name => "chroot " + rootfs;

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        s.Add("chdir to the rootfs " + rootfs, SYS_chdir, s.Str(rootfs));
        s.Add("chroot " + rootfs, SYS_chroot, s.Str("."));
        s.Add("chdir /", SYS_chdir, s.Str("/"));
    }

    public override void Apply(InitContext ctx) => ctx.Calls.Chroot(rootfs);
}
