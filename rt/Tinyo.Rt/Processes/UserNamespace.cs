using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Tinyo.Linux;
using Tinyo.Rt.Oci;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Processes;

/// <summary>
/// A new user namespace (<c>linux.namespaces</c> type <c>user</c> with <c>uidMappings</c>/<c>gidMappings</c>).
/// </summary>
/// <remarks>
/// <para>Init is cloned straight into the new user namespace (with the others, which the new user namespace then
/// owns). Its credentials are still the host's root, which the mapping leaves unmapped, and an exec in that state
/// would drop every capability. So the child's syscall table (before its execveat) writes one byte on the sync
/// socket and blocks reading the answer. The parent set SO_PASSCRED on its end, so that byte arrives with the
/// child's host pid (SCM_CREDENTIALS: the clone(CLONE_VFORK) caller itself is suspended, a helper thread receives
/// it); being root on the host it writes <c>/proc/PID/uid_map</c> and <c>gid_map</c> itself (no newuidmap) and
/// answers <c>U</c>. The child then switches to uid/gid 0 of the namespace — the mapped root — and execs init,
/// which therefore holds every capability inside the namespace and carries on as any init.</para>
/// <para>Inside, init cannot create device nodes (mknod needs the initial user namespace): /dev's nodes are bind
/// mounts of the host's. It also may not traverse host directories its mapped root does not own: the exec FIFO is
/// passed to it as an open descriptor on the sync socket (<c>F</c> + SCM_RIGHTS) instead of by path, and the bundle
/// must be reachable by the mapped root (runc's rule too). Image containers (<c>run --userns</c>) get their overlay root from the parent, idmapped (<see cref="SendOverlay"/>).</para>
/// </remarks>
internal static class UserNamespace
{
    /// <summary>
    /// Parent, before the clone: the rows the child runs before exec (announce, wait for the mappings, become the
    /// namespace's root) and a helper that serves them; dispose the helper once the clone returned.
    /// </summary>
    public static unsafe Mapper Prepare(int parentSock, int childSock, SpecLinux linux)
    {
        int on = 1;
        if (SysSetsockopt(parentSock, SOL_SOCKET, SO_PASSCRED, &on, 4) != 0) throw Error("setsockopt(SO_PASSCRED)");
        var m = new Mapper(parentSock, linux);
        byte* buf = (byte*)NativeMemory.AllocZeroed(8);
        buf[0] = (byte)'W';
        m.Buffer = (nint)buf;
        m.ChildSock = childSock;
        m.Start();
        return m;
    }

    /// <summary>The parent's side of the mapping handshake (see the remarks of <see cref="UserNamespace"/>).</summary>
    internal sealed unsafe class Mapper : IDisposable
    {
        private readonly int _sock;
        private readonly SpecLinux _linux;
        private readonly Thread _thread;
        private volatile bool _stop;
        private Exception? _failure;
        internal nint Buffer;
        internal int ChildSock;

        /// <summary>Appends the child's side of the handshake, before its execveat: announce itself, wait for the
        /// maps, become the mapped root.</summary>
        public void Emit(SyscallScript s)
        {
            byte* buf = (byte*)Buffer;
            s.Add("announcing init for its id mappings", SYS_write, ChildSock, (long)buf, 1);
            s.Add("waiting for the id mappings", SYS_read, ChildSock, (long)(buf + 1), 1);
            s.Add("setresgid 0 in the user namespace", SYS_setresgid, 0, 0, 0);
            s.Add("setresuid 0 in the user namespace", SYS_setresuid, 0, 0, 0);
        }

        internal Mapper(int sock, SpecLinux linux)
        {
            _sock = sock;
            _linux = linux;
            _thread = new Thread(Serve, 128 * 1024) { IsBackground = true, Name = "userns-map" };
        }

        internal void Start() => _thread.Start();

        private void Serve()
        {
            try
            {
                var pfd = new PollFd { Fd = _sock, Events = POLLIN };
                while (!_stop)
                {
                    pfd.Revents = 0;
                    if (SysPoll(&pfd, 1, 50) > 0) break;
                }
                if (_stop) return;
                int pid = RecvCredPid(_sock);
                if (pid <= 0) throw new RtException("init did not announce itself for its user namespace mappings");
                var p = "/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/";
                Write(p + "uid_map", _linux.UidMappings!);
                Write(p + "gid_map", _linux.GidMappings!);
                if (!SysWriteAll(_sock, "U"u8)) throw Error("resuming init after writing its id mappings");
            }
            catch (Exception e)
            {
                _failure = e;
                SysWriteAll(_sock, "X"u8); // unblocks the child, whose switch to the (unmapped) root then fails
            }
        }

        /// <summary>Waits for the helper (after the clone returned) and rethrows its failure.</summary>
        public void Finish()
        {
            _stop = true;
            _thread.Join();
            if (_failure is not null) throw _failure;
        }

        public void Dispose()
        {
            _stop = true;
            _thread.Join();
            if (Buffer != 0) NativeMemory.Free((void*)Buffer);
            Buffer = 0;
            int off = 0;
            SysSetsockopt(_sock, SOL_SOCKET, SO_PASSCRED, &off, 4);
        }
    }

    private static void Write(string file, List<SpecIdMapping> maps)
    {
        var sb = new StringBuilder();
        foreach (var m in maps) sb.Append(CultureInfo.InvariantCulture, $"{m.ContainerID} {m.HostID} {m.Size}\n");
        // One write(2): the kernel accepts a mapping file only whole, and only once.
        int fd = SysOpen(file, OFlag.WrOnly | OFlag.Cloexec, 0);
        if (fd < 0) throw Error("opening", file);
        try
        {
            if (!SysWriteAll(fd, Encoding.ASCII.GetBytes(sb.ToString()))) throw Error("writing", file);
        }
        finally { SysClose(fd); }
    }

    /// <summary>Parent: hands init the exec FIFO as an open descriptor (see the remarks).</summary>
    public static void SendFifo(int sock, string fifo)
    {
        int fd = SysOpen(fifo, OFlag.RdWr | OFlag.Cloexec, 0);
        if (fd < 0) throw Error("opening", fifo);
        try
        {
            if (!SendFd(sock, fd, "F"u8)) throw Error("passing the exec FIFO to init");
        }
        finally { SysClose(fd); }
    }

    /// <summary>
    /// Parent, once init's maps are written: builds an image container's overlay root as a detached mount and hands
    /// it to init (<c>O</c> + SCM_RIGHTS), which attaches it in place of mounting the overlay itself.
    /// </summary>
    /// <remarks>
    /// The shared layers are owned by the host's root, which the container's mapping leaves unmapped: seen directly,
    /// every image file would belong to nobody and root inside could change none of them. So each layer is an
    /// idmapped clone (open_tree + mount_setattr MOUNT_ATTR_IDMAP with init's user namespace) — host uid 0 appears as
    /// the container's root, and nothing on disk is chowned — given to overlay by descriptor (<c>lowerdir+</c> with
    /// FSCONFIG_SET_FD, Linux 6.13+). The overlay itself is made here by the host's root (its copy-ups keep the
    /// idmapped owners); the upper directory, fresh and per container, is owned by the mapped root.
    /// </remarks>
    public static void SendOverlay(int sock, int pid, Rootfs.OverlayLayers overlay)
    {
        foreach (var l in overlay.LowerTopFirst) Rootfs.Overlay.CheckPath(l);
        var ns = "/proc/" + pid.ToString(CultureInfo.InvariantCulture) + "/ns/user";
        int userns = SysOpen(ns, OFlag.RdOnly | OFlag.Cloexec, 0);
        if (userns < 0) throw Error("opening", ns);
        int fs = -1, mnt = -1;
        var layers = new List<int>(overlay.LowerTopFirst.Count);
        try
        {
            fs = Fsopen("overlay", FSOPEN_CLOEXEC);
            if (fs < 0) throw Error("fsopen overlay");
            foreach (var l in overlay.LowerTopFirst)
            {
                int t = OpenTreeClone(l);
                if (t < 0) throw Error("open_tree", l);
                layers.Add(t);
                if (MountSetIdmap(t, userns) != 0) throw Error("idmapping the image layer", l);
                // lowerdir+ appends below the ones given so far: top layer first, as in lowerdir=.
                if (FsconfigFd(fs, "lowerdir+", t) != 0) throw Error("overlay lowerdir+ by descriptor (needs Linux 6.13+)", l);
            }
            if (Fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", overlay.Upper, 0) != 0) throw Error("overlay upperdir", overlay.Upper);
            if (Fsconfig(fs, FSCONFIG_SET_STRING, "workdir", overlay.Work, 0) != 0) throw Error("overlay workdir", overlay.Work);
            if (Fsconfig(fs, FSCONFIG_SET_STRING, "index", "off", 0) != 0) throw Error("overlay index=off");
            if (Fsconfig(fs, FSCONFIG_SET_STRING, "xino", "off", 0) != 0) throw Error("overlay xino=off");
            if (Fsconfig(fs, FSCONFIG_CMD_CREATE, null, null, 0) != 0) throw Error("creating the overlay rootfs");
            mnt = Fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
            if (mnt < 0) throw Error("fsmount overlay");
            if (!SendFd(sock, mnt, "O"u8)) throw Error("passing the overlay rootfs to init");
        }
        finally
        {
            if (mnt >= 0) SysClose(mnt);
            if (fs >= 0) SysClose(fs);
            foreach (var t in layers) SysClose(t);
            SysClose(userns);
        }
    }

    /// <summary>Init: receives the overlay mount sent by <see cref="SendOverlay"/>.</summary>
    public static int ReceiveOverlay(int sock)
    {
        Span<byte> b = stackalloc byte[8];
        int n = RecvFd(sock, b, out int fd);
        if (n != 1 || b[0] != (byte)'O' || fd < 0)
        {
            if (fd >= 0) SysClose(fd);
            throw new RtException("init: expected the overlay rootfs from the runtime");
        }
        return fd;
    }

    /// <summary>Init: receives the exec FIFO sent by <see cref="SendFifo"/>.</summary>
    public static int ReceiveFifo(int sock)
    {
        Span<byte> b = stackalloc byte[8];
        int n = RecvFd(sock, b, out int fd);
        if (n != 1 || b[0] != (byte)'F' || fd < 0)
        {
            if (fd >= 0) SysClose(fd);
            throw new RtException("init: expected the exec FIFO from the runtime");
        }
        return fd;
    }
}
