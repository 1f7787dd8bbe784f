using System.Runtime.InteropServices;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Rootfs;
using Tinyo.Rt.Security;
using static Tinyo.Linux.Libc;
using static Tinyo.Rt.Processes.SyscallScript;

namespace Tinyo.Rt.Processes;

/// <summary>
/// The fast start: everything <c>tinyort init</c> would do in the container (join the cgroup, rootfs, pivot_root,
/// masked paths, hostname, loopback, rlimits, cwd, credentials, capabilities, no_new_privs, seccomp, exec) prepared by
/// the parent as one <see cref="SyscallScript"/> and run by the clone child itself, which then execs the container's
/// process directly. It saves the second process start (the runtime binary exec'd as init, ≈ 2–5 ms) and the
/// configuration round trip. Init's steps are mirrored one for one, in the same order and with the same flags
/// (<see cref="ContainerInit"/>, <see cref="RootfsBuilder"/>); <see cref="Declines"/> names what the script does not
/// implement, and such containers take the init path.
/// </summary>
/// <remarks>
/// No runtime binary is exec'd into the container on this path, so there is no <c>/proc/PID/exe</c> of ours for the
/// container to reach (CVE-2019-5736 does not apply): the only image exec'd in the new namespaces is the container's
/// own program. The child shares the parent's memory until that execve (CLONE_VM|CLONE_VFORK), runs no managed code,
/// and has all signal handlers reset to default before it unblocks signals.
/// </remarks>
internal static unsafe class DirectStart
{
    private static readonly (string Name, uint Major, uint Minor)[] DefaultDevices =
        [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];
    private static readonly (string Link, string Target)[] DefaultLinks =
        [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
         ("ptmx", "pts/ptmx"), ("core", "/proc/kcore")];

    private const int OPath = 0x200000, ODir = 0x10000, OCloexec = 0x80000, ORdOnly = 0, EACCES = 13;
    private const ulong MaskFlags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;

    /// <summary>Why <paramref name="c"/> needs the init path, or null when the fast path implements everything it asks.</summary>
    public static string? Declines(InitConfig c)
    {
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64) return "not x86-64";
        if (c.ExecFifo is not null) return "waits for start";
        var spec = c.Spec;
        var l = spec.Linux!;
        var p = spec.Process!;
        if (p.Terminal) return "terminal";
        if (p.OomScoreAdj is not null) return "oomScoreAdj";
        if (l.Sysctl is { Count: > 0 }) return "sysctls";
        if (l.Devices is { Count: > 0 }) return "devices";
        if (spec.Hooks is { } h && (h.Prestart?.Count > 0 || h.CreateRuntime?.Count > 0 || h.CreateContainer?.Count > 0
            || h.StartContainer?.Count > 0 || h.Poststart?.Count > 0 || h.Poststop?.Count > 0)) return "hooks";
        foreach (var ns in l.Namespaces ?? []) if (ns.Type == "user") return "user namespace";
        foreach (var m in l.MaskedPaths ?? []) if (HostKind(m) is null) return "masked path outside /proc and /sys";
        foreach (var m in l.ReadonlyPaths ?? []) if (HostKind(m) is null) return "read-only path outside /proc and /sys";
        if (c.OverlayLower is { Count: > 0 } lower
            && System.Text.Encoding.UTF8.GetByteCount(Overlay.Options(lower, c.OverlayUpper!, c.OverlayWork!)) > Overlay.MaxOptions)
            return "long overlay option string";
        return null;
    }

    /// <summary>
    /// Masked and read-only paths are resolved in the container's own /proc and /sys, which show what the host's show
    /// (same kernel): whether one is a directory is read from the host. Null: not under /proc or /sys (or a pid
    /// directory), left to init, which looks inside the container.
    /// </summary>
    private static bool? HostKind(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2 || parts[0] is not ("proc" or "sys") || parts.Contains("..")) return null;
        if (parts[0] == "proc" && (parts[1] is "self" or "thread-self" || char.IsAsciiDigit(parts[1][0]))) return null;
        return Directory.Exists(path);
    }

    /// <summary>
    /// Clones the container's process and runs the script that builds it; returns its host pid once it has exec'd.
    /// A failure of any step is thrown with what init would have said; the child is gone by then.
    /// </summary>
    public static int Start(InitConfig c, ReadOnlySpan<int> cgroupJoin, ReadOnlySpan<int> stdio, int cloneFlags)
    {
        var spec = c.Spec;
        var linux = spec.Linux!;
        var proc = spec.Process!;
        using var s = new SyscallScript();
        var keep = new List<int>(cgroupJoin.ToArray());
        var nsFds = new List<(int Fd, int Flag, string Path)>();
        var high = new List<int>();
        try
        {
            foreach (var ns in linux.Namespaces ?? [])
            {
                if (string.IsNullOrEmpty(ns.Path)) continue;
                int fd = SysOpen(ns.Path, OFlag.RdOnly | OFlag.Cloexec, 0);
                if (fd < 0) throw Error("opening namespace", ns.Path);
                high.Add(fd);
                keep.Add(fd);
                nsFds.Add((fd, Array.Find(Bundle.NamespaceTypes, t => t.Type == ns.Type).Flag, ns.Path));
            }
            // Stdio sources duplicated high first, so moving them onto 0..2 cannot clobber one another.
            var hi = new int[3];
            for (int i = 0; i < 3; i++)
            {
                hi[i] = SysFcntl(stdio[i], F_DUPFD_CLOEXEC, 10);
                if (hi[i] < 0) throw Error($"duplicating stdio fd {stdio[i]}");
                high.Add(hi[i]);
            }
            // Fixed numbers above every fd involved for what the child keeps; everything else is closed.
            int baseFd = Math.Max(high.Max(), keep.Count == 0 ? 0 : keep.Max()) + 1;
            for (int i = 0; i < 3; i++) s.Add("setting up stdio", SYS_dup3, hi[i], i, 0);
            var moved = new Dictionary<int, int>();
            for (int i = 0; i < keep.Count; i++)
            {
                s.Add("setting up descriptors", SYS_dup3, keep[i], baseFd + i, OCloexec);
                moved[keep[i]] = baseFd + i;
            }
            s.Add("closing descriptors", SYS_close_range, 3, baseFd - 1, 0);
            s.Add("closing descriptors", SYS_close_range, baseFd + keep.Count, uint.MaxValue, 0);
            s.Adopt(0); s.Adopt(1); s.Adopt(2);
            for (int i = 0; i < keep.Count; i++) s.Adopt(baseFd + i);

            // Join the cgroup first (see CgroupJoin), so everything below is accounted.
            long zero = s.Str("0");
            foreach (var fd in cgroupJoin) s.Add("joining the container's cgroup", SYS_write, moved[fd], zero, 1);

            // Every handler back to default while signals are still blocked (the parent's .NET handlers must never
            // run here); the mask is lifted just before execve. Ignored signals become default too, as init did.
            long dfl = (long)s.Block(32);
            for (int sig = 1; sig <= 64; sig++)
                if (sig is not (SIGKILL or 19)) s.Add("resetting signal handlers", SYS_rt_sigaction, sig, dfl, 0, 8);

            s.Add("umask", SYS_umask, 0);
            bool newNet = false;
            foreach (var ns in linux.Namespaces ?? [])
            {
                if (!string.IsNullOrEmpty(ns.Path))
                {
                    var (fd, flag, path) = nsFds.Find(n => n.Path == ns.Path && n.Flag == Array.Find(Bundle.NamespaceTypes, t => t.Type == ns.Type).Flag);
                    s.Add($"joining {ns.Type} namespace {path}", SYS_setns, moved[fd], flag);
                }
                else if (ns.Type == "cgroup") s.Add("unshare cgroup namespace", SYS_unshare, CLONE_NEWCGROUP);
                else if (ns.Type == "network") newNet = true;
            }
            s.Add("prctl(PR_SET_DUMPABLE)", SYS_prctl, PR_SET_DUMPABLE, 0);

            BuildRootfs(s, c);

            if (!string.IsNullOrEmpty(spec.Hostname)) s.Add("sethostname " + spec.Hostname, SYS_sethostname, s.Str(spec.Hostname), Utf8Len(spec.Hostname));
            if (!string.IsNullOrEmpty(spec.Domainname)) s.Add("setdomainname " + spec.Domainname, SYS_setdomainname, s.Str(spec.Domainname), Utf8Len(spec.Domainname));
            if (newNet)
            {
                // A fresh namespace's lo has only IFF_LOOPBACK; SIOCSIFFLAGS changes only the settable flags.
                var req = (IfReq*)s.Block(sizeof(IfReq));
                req->Name[0] = (byte)'l'; req->Name[1] = (byte)'o';
                req->Flags = IFF_UP | 0x8 /* IFF_LOOPBACK */;
                int sock = s.Open("socket", SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                s.Add("bringing lo up", SYS_ioctl, sock, (long)SIOCSIFFLAGS, (long)req);
                s.Close(sock);
            }
            Finish(s, c);
            s.Add("setsid", SYS_setsid);
            foreach (var r in proc.Rlimits ?? [])
            {
                var lim = (ulong*)s.Block(16);
                lim[0] = r.Soft; lim[1] = r.Hard;
                s.Add($"setrlimit {r.Type} soft={r.Soft} hard={r.Hard}", SYS_prlimit64, 0, Rlimits.Number(r.Type), (long)lim, 0);
            }
            // cwd: created when missing (inside the container's root now), as init does.
            var cwd = proc.Cwd!;
            var parts = cwd.Split('/', StringSplitOptions.RemoveEmptyEntries);
            for (int i = 0; i < parts.Length; i++)
                s.Add($"creating cwd {cwd}", SYS_mkdirat, AT_FDCWD_, s.Str("/" + string.Join('/', parts, 0, i + 1)), 0x1ED, ok: Ok(Errno_.EEXIST));
            s.Add("chdir " + cwd, SYS_chdir, s.Str(cwd));
            // No descriptor of the runtime reaches the process.
            s.Add("close_range", SYS_close_range, 3, uint.MaxValue, CLOSE_RANGE_CLOEXEC);
            Credentials(s, c);
            return s.Run(cloneFlags, errno => errno == Errno_.ENOENT && !proc.Args![0].Contains('/')
                ? $"executable \"{proc.Args[0]}\" not found in PATH {PathOf(proc.Env)}: executable file not found" : null); // Docker maps that phrase to exit 127
        }
        finally
        {
            foreach (var fd in high) SysClose(fd);
        }
    }

    private static int Utf8Len(string s) => System.Text.Encoding.UTF8.GetByteCount(s);

    private static string PathOf(List<string>? env)
    {
        string pathVar = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var e in env ?? []) if (e.StartsWith("PATH=", StringComparison.Ordinal)) pathVar = e[5..];
        return pathVar;
    }

    /// <summary>RootfsBuilder.Build as rows: rslave /, the rootfs (bind or overlay), the spec's mounts, /dev, pivot_root.</summary>
    private static void BuildRootfs(SyscallScript s, InitConfig c)
    {
        var spec = c.Spec;
        s.Add("making / rslave", SYS_mount, 0, s.Str("/"), 0, (long)(MS_SLAVE | MS_REC), 0);
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
        int root = s.Open("opening the rootfs " + c.Rootfs, SYS_openat, AT_FDCWD_, s.Str(c.Rootfs), OPath | ODir | OCloexec);
        bool devTmpfs = false;
        foreach (var m in spec.Mounts ?? [])
        {
            MountOne(s, c, root, m);
            if (m.Destination.TrimEnd('/') == "/dev" && m.Type is "tmpfs" or "devtmpfs") devTmpfs = true;
        }
        if (devTmpfs)
        {
            int dev = s.Open("opening /dev", SYS_openat2, root, s.Str("dev"), How(ORdOnly | ODir | OCloexec, s), 24);
            foreach (var (name, major, minor) in DefaultDevices)
            {
                s.Add("creating device /dev/" + name, SYS_mknodat, dev, s.Str(name), 0x2000 | 0x1B6, (long)Makedev(major, minor), ok: Ok(Errno_.EEXIST));
                s.Add("chmod /dev/" + name, SYS_fchmodat, dev, s.Str(name), 0x1B6, 0);
            }
            foreach (var (link, target) in DefaultLinks)
                s.Add("creating symlink /dev/" + link, SYS_symlinkat, s.Str(target), dev, s.Str(link), ok: Ok(Errno_.EEXIST));
            s.Close(dev);
        }
        s.Add("chdir to the rootfs", SYS_fchdir, root);
        // pivot_root(".", ".") stacks the old root on the new one; detaching "." removes it (see RootfsBuilder).
        s.Add("pivot_root " + c.Rootfs, SYS_pivot_root, s.Str("."), s.Str("."));
        s.Add("detaching the old root", SYS_umount2, s.Str("."), MNT_DETACH);
        s.Add("chdir /", SYS_chdir, s.Str("/"));
        s.Close(root);
    }

    /// <summary>struct open_how { flags, mode, resolve } for openat2 inside the rootfs.</summary>
    private static long How(int flags, SyscallScript s, ulong resolve = Resolve.InRoot | Resolve.NoMagicLinks)
    {
        var h = (ulong*)s.Block(24);
        h[0] = (ulong)(uint)flags;
        h[1] = 0;
        h[2] = resolve;
        return (long)h;
    }

    /// <summary>SafePath.OpenOrCreate as rows: each component created (EEXIST is fine) relative to its parent's fd,
    /// then re-resolved from the root with RESOLVE_IN_ROOT. Returns the planned OPath fd of the destination.</summary>
    private static int OpenOrCreate(SyscallScript s, int root, string path, bool file, string what)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) return s.Open($"{what}: resolving {path}", SYS_openat2, root, s.Str("."), How(OPath | OCloexec, s), 24);
        int dir = root;
        for (int i = 0; i < parts.Length; i++)
        {
            bool last = i == parts.Length - 1;
            if (last && file)
                s.Add($"{what}: creating {path}", SYS_mknodat, dir, s.Str(parts[i]), 0x8000 | 0x1A4 /* S_IFREG 0644 */, 0, ok: Ok(Errno_.EEXIST));
            else
                s.Add($"{what}: creating {path}", SYS_mkdirat, dir, s.Str(parts[i]), 0x1ED, ok: Ok(Errno_.EEXIST));
            int next = s.Open($"{what}: resolving {path}", SYS_openat2, root, s.Str(string.Join('/', parts, 0, i + 1)), How(OPath | OCloexec, s), 24);
            if (dir != root) s.Close(dir);
            dir = next;
        }
        return dir;
    }

    private static void MountOne(SyscallScript s, InitConfig c, int root, SpecMount m)
    {
        var o = MountOptions.Parse(m.Options);
        string type = m.Type ?? "";
        bool bind = o.Bind || type is "" or "bind";
        if (type is "cgroup" or "cgroup2") { MountCgroup(s, c, root, m, o); return; }
        bool file = bind && !Directory.Exists(m.Source);
        int target = OpenOrCreate(s, root, m.Destination, file, "mount destination");
        if (bind)
        {
            s.Add($"bind-mounting {m.Source} on {m.Destination}", SYS_mount, s.Str(m.Source!), s.FdPath(target), 0, (long)(MS_BIND | (o.Flags & MS_REC)), 0);
            ulong rest = o.Flags & ~(MS_BIND | MS_REC);
            if (rest != 0) Remount(s, root, m.Destination, rest);
        }
        else
            s.Add($"mounting {type} on {m.Destination}", SYS_mount, s.Str(m.Source ?? type), s.FdPath(target), s.Str(type), (long)o.Flags,
                o.Data is null ? 0 : s.Str(o.Data));
        foreach (var p in o.Propagation)
        {
            int fd = s.Open("reopening " + m.Destination, SYS_openat2, root, s.Str(m.Destination.TrimStart('/')), How(OPath | OCloexec, s), 24);
            s.Add("setting propagation of " + m.Destination, SYS_mount, 0, s.FdPath(fd), 0, (long)p, 0);
            s.Close(fd);
        }
        s.Close(target);
    }

    private static void Remount(SyscallScript s, int root, string dest, ulong flags)
    {
        var rel = dest.TrimStart('/');
        int fd = s.Open("reopening " + dest, SYS_openat2, root, s.Str(rel.Length == 0 ? "." : rel), How(OPath | OCloexec, s), 24);
        s.Add("remounting " + dest, SYS_mount, 0, s.FdPath(fd), 0, (long)(MS_REMOUNT | MS_BIND | flags), 0);
        s.Close(fd);
    }

    /// <summary>RootfsBuilder.MountCgroup: cgroup2, or a tmpfs with one mount per v1 hierarchy.</summary>
    private static void MountCgroup(SyscallScript s, InitConfig c, int root, SpecMount m, MountOptions o)
    {
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

    /// <summary>RootfsBuilder.OwnCgroupOnly: the container's own directory of the hierarchy just mounted at
    /// <paramref name="dest"/> bind-mounted over it (read-only again: a bind does not inherit the flag).</summary>
    private static void OwnCgroupOnly(SyscallScript s, int root, string dest, string subpath, bool readOnly)
    {
        if (subpath.Length == 0) return;
        var rel = dest.TrimStart('/');
        int src = s.Open("opening the container's cgroup under " + dest, SYS_openat2, root, s.Str(rel + "/" + subpath), How(OPath | OCloexec | ODir, s), 24);
        int on = s.Open("reopening " + dest, SYS_openat2, root, s.Str(rel), How(OPath | OCloexec, s), 24);
        s.Add("bind-mounting the container's own cgroup on " + dest, SYS_mount, s.FdPath(src), s.FdPath(on), 0, (long)MS_BIND, 0);
        s.Close(on);
        s.Close(src);
        if (readOnly) Remount(s, root, dest, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }

    /// <summary>RootfsBuilder.Finish: masked and read-only paths (missing ones skipped), read-only root, propagation.</summary>
    private static void Finish(SyscallScript s, InitConfig c)
    {
        var spec = c.Spec;
        var linux = spec.Linux!;
        foreach (var p in linux.MaskedPaths ?? [])
        {
            bool dir = HostKind(p) == true;
            int fd = s.Open("masking " + p, SYS_openat2, AT_FDCWD_, s.Str(p), How(OPath | OCloexec, s), 24, ok: Ok(Errno_.ENOENT), skip: 2);
            if (dir) s.Add("masking " + p, SYS_mount, s.Str("tmpfs"), s.FdPath(fd), s.Str("tmpfs"), (long)MaskFlags, s.Str("size=0,mode=000"));
            else s.Add("masking " + p, SYS_mount, s.Str("/dev/null"), s.FdPath(fd), 0, (long)MS_BIND, 0);
            s.Close(fd);
        }
        foreach (var p in linux.ReadonlyPaths ?? [])
        {
            int fd = s.Open("making read-only " + p, SYS_openat2, AT_FDCWD_, s.Str(p), How(OPath | OCloexec, s), 24, ok: Ok(Errno_.ENOENT), skip: 5);
            s.Add("bind-mounting " + p, SYS_mount, s.FdPath(fd), s.FdPath(fd), 0, (long)(MS_BIND | MS_REC), 0);
            s.Close(fd);
            int fd2 = s.Open("reopening " + p, SYS_openat2, AT_FDCWD_, s.Str(p), How(OPath | OCloexec, s), 24);
            s.Add("remounting read-only " + p, SYS_mount, 0, s.FdPath(fd2), 0, (long)(MS_REMOUNT | MS_BIND | MaskFlags), 0);
            s.Close(fd2);
        }
        if (spec.Root!.Readonly) s.Add("remounting / read-only", SYS_mount, 0, s.Str("/"), 0, (long)(MS_REMOUNT | MS_BIND | MS_RDONLY), 0);
        var prop = MountOptions.RootPropagation(linux.RootfsPropagation);
        if (prop != (MS_SLAVE | MS_REC)) s.Add("setting rootfs propagation", SYS_mount, 0, s.Str("/"), 0, (long)prop, 0);
    }

    /// <summary>
    /// ContainerInit's credential steps: seccomp (before the drop without no_new_privs), bounding set, groups, gid,
    /// uid (keeping the permitted set), the spec's capability sets and ambient ones, no_new_privs, umask; then the
    /// signal mask is lifted, the filter loaded (with no_new_privs, last, as runc) and the program exec'd — searched
    /// in the container's PATH as execvp(3) would, one execve per candidate.
    /// </summary>
    private static void Credentials(SyscallScript s, InitConfig c)
    {
        var proc = c.Spec.Process!;
        long fprog = 0;
        if (c.SeccompProgram is { Length: > 0 } prog)
        {
            var f = s.Block(prog.Length);
            prog.CopyTo(new Span<byte>((void*)f, prog.Length));
            fprog = (long)s.Block(16);
            ((ulong*)fprog)[0] = (ushort)(prog.Length / 8);
            ((ulong*)fprog)[1] = (ulong)f;
        }
        if (fprog != 0 && !proc.NoNewPrivileges) s.Add("loading the seccomp filter", SYS_seccomp, SECCOMP_SET_MODE_FILTER, c.SeccompFlags, fprog);
        var caps = CapabilitySets.FromSpec(proc.Capabilities);
        int last = CapabilitySets.LastCap();
        for (int i = 0; i <= last; i++)
            if ((caps.Bounding & (1UL << i)) == 0)
                s.Add($"dropping {(i < CapabilitySets.Names.Length ? CapabilitySets.Names[i] : i.ToString(System.Globalization.CultureInfo.InvariantCulture))} from the bounding set",
                    SYS_prctl, PR_CAPBSET_DROP, i);
        var user = proc.User ?? new SpecUser();
        s.Add("prctl(PR_SET_KEEPCAPS)", SYS_prctl, PR_SET_KEEPCAPS, 1);
        var groups = user.AdditionalGids ?? [];
        var gids = (uint*)s.Block(groups.Count * 4);
        for (int i = 0; i < groups.Count; i++) gids[i] = groups[i];
        s.Add("setgroups", SYS_setgroups, groups.Count, (long)gids);
        s.Add($"setresgid {user.Gid}", SYS_setresgid, user.Gid, user.Gid, user.Gid);
        s.Add($"setresuid {user.Uid}", SYS_setresuid, user.Uid, user.Uid, user.Uid);
        s.Add("prctl(PR_SET_KEEPCAPS)", SYS_prctl, PR_SET_KEEPCAPS, 0);
        // CapabilitySets.ApplyToCurrentThread with the sets computed here: the child's sets are ours (cloned), and
        // KEEPCAPS kept the permitted set across the uid change.
        var hdr = (CapHeader*)s.Block(sizeof(CapHeader));
        hdr->Version = LINUX_CAPABILITY_VERSION_3;
        var cur = stackalloc CapData[2];
        if (Capget(hdr, cur) != 0) throw Error("capget");
        hdr->Version = LINUX_CAPABILITY_VERSION_3;
        hdr->Pid = 0;
        ulong have = cur[0].Permitted | ((ulong)cur[1].Permitted << 32);
        ulong perm = caps.Permitted & have, eff = caps.Effective & perm,
            inh = caps.Inheritable & (have | (cur[0].Inheritable | ((ulong)cur[1].Inheritable << 32)));
        var d = (CapData*)s.Block(2 * sizeof(CapData));
        d[0] = new CapData { Effective = (uint)eff, Permitted = (uint)perm, Inheritable = (uint)inh };
        d[1] = new CapData { Effective = (uint)(eff >> 32), Permitted = (uint)(perm >> 32), Inheritable = (uint)(inh >> 32) };
        s.Add("capset", SYS_capset, (long)hdr, (long)d);
        s.Add("clearing ambient capabilities", SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        ulong amb = caps.Ambient & perm & inh;
        for (int i = 0; i <= last; i++)
            if ((amb & (1UL << i)) != 0) s.Add("raising ambient " + CapabilitySets.Names[i], SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0);
        if (proc.NoNewPrivileges) s.Add("prctl(PR_SET_NO_NEW_PRIVS)", SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        s.Add("umask", SYS_umask, user.Umask ?? 0x12);
        s.Add("unblocking signals", SYS_rt_sigprocmask, SIG_SETMASK, (long)s.Block(8), 0, 8);
        if (fprog != 0 && proc.NoNewPrivileges) s.Add("loading the seccomp filter", SYS_seccomp, SECCOMP_SET_MODE_FILTER, c.SeccompFlags, fprog);

        var name = proc.Args![0];
        long argv = s.Strings(proc.Args), envp = s.Strings(proc.Env ?? []);
        if (name.Contains('/'))
        {
            s.Add("exec " + name, SYS_execve, s.Str(name), argv, envp);
            return;
        }
        var dirs = PathOf(proc.Env).Split(':', StringSplitOptions.RemoveEmptyEntries);
        if (dirs.Length == 0) dirs = ["."];
        for (int i = 0; i < dirs.Length; i++)
        {
            var cand = dirs[i].TrimEnd('/') + "/" + name;
            bool lastCand = i == dirs.Length - 1;
            // execvp(3): a candidate that is missing or not executable moves on to the next directory.
            s.Add("exec " + cand, SYS_execve, s.Str(cand), argv, envp,
                ok: lastCand ? 0 : Ok(Errno_.ENOENT) | Ok(EACCES) | Ok(Errno_.ENOTDIR));
        }
    }
}
