using System.Runtime.InteropServices;
using System.Text;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Rootfs;
using Tinyo.Rt.Security;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Setup;

/// <summary>The real <see cref="ISetupCalls"/>: what init does in the container, on its main thread (the thread
/// that execs: unshare, setns, capabilities and no_new_privs are per-thread).</summary>
internal sealed unsafe class LibcSetupCalls : ISetupCalls
{
    public void Umask(int mask) => Linux.Libc.Umask((uint)mask);

    public int OpenExecFifo(InitConfig c, int syncFd)
    {
        if (c.UserNs) return Processes.UserNamespace.ReceiveFifo(syncFd);
        int fd = SysOpen(c.ExecFifo!, OFlag.RdWr | OFlag.Cloexec, 0);
        if (fd < 0) throw Error("opening", c.ExecFifo!);
        return fd;
    }

    public void UnshareCgroup()
    {
        if (Unshare(CLONE_NEWCGROUP) != 0) throw Error("unshare cgroup namespace");
    }

    // Not dumpable: other processes in the container cannot ptrace init or open its /proc files (its exe).
    public void SetNotDumpable() => Prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    public void SetMemoryMerge()
    {
        if (Prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) != 0) throw Error("prctl(PR_SET_MEMORY_MERGE)");
    }

    public void MakeRootSlave()
    {
        if (Mount(null, "/", null, MS_SLAVE | MS_REC, null) != 0) throw Error("making / rslave");
    }

    public int MountRootfs(InitConfig c, int syncFd)
    {
        if (c.UserNs && c.OverlayLower is { Count: > 0 }) c.OverlayMountFd = Processes.UserNamespace.ReceiveOverlay(syncFd);
        return RootfsBuilder.MountRootfs(c);
    }

    public void BindMount(int root, string source, string dest, bool file, bool recursive) => RootfsBuilder.Bind(root, source, dest, file, recursive);
    public void MountFilesystem(int root, string source, string dest, string type, ulong flags, string? data) => RootfsBuilder.MountFs(root, source, dest, type, flags, data);
    public void Remount(int root, string dest, ulong flags) => RootfsBuilder.Remount(root, dest, flags);
    public void ReadOnlyRecursive(int root, string dest) => RootfsBuilder.ReadOnlyRecursive(root, dest);
    public void SetPropagation(int root, string dest, ulong flag) => RootfsBuilder.SetPropagation(root, dest, flag);
    public void MountCgroup(InitConfig c, int root, SpecMount m) => RootfsBuilder.MountCgroup(c, root, m, MountOptions.Parse(m.Options));
    public void CreateDefaultDevices(int root, bool userNs) => RootfsBuilder.CreateDefaultDevices(root, userNs);
    public void CreateDevice(int root, SpecDevice d) => RootfsBuilder.CreateDevice(root, d);

    public void RunHooksBeforePivot(InitConfig c, int syncFd)
    {
        if (c.PauseBeforePivot)
        {
            if (!SysWriteAll(syncFd, "H"u8)) throw Error("asking the runtime to run the createRuntime hooks");
            Span<byte> b = stackalloc byte[1];
            if (SysReadRetry(syncFd, b) != 1 || b[0] != (byte)'h') Exit(1); // the parent gave up (a hook failed)
        }
        if (Hooks.Any(c.CreateContainerHooks)) Hooks.Run("createContainer", c.CreateContainerHooks, c.HookState!);
    }

    public void PivotRoot(int root, string rootfs) => RootfsBuilder.PivotInto(root, rootfs);

    public void Chroot(string rootfs)
    {
        if (SysChdir(rootfs) != 0) throw Error("chdir to the rootfs", rootfs);
        if (Linux.Libc.Chroot(".") != 0) throw Error("chroot", rootfs);
        if (SysChdir("/") != 0) throw Error("chdir /");
    }

    public void SetName(string name, bool host)
    {
        var b = Encoding.UTF8.GetBytes(name);
        fixed (byte* p = b)
            if ((host ? Sethostname(p, (nuint)b.Length) : Setdomainname(p, (nuint)b.Length)) != 0)
                throw Error(host ? "sethostname" : "setdomainname", name);
    }

    public void LoopbackUp()
    {
        int s = SysSocket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0) throw Error("socket");
        try
        {
            var req = new IfReq();
            req.Name[0] = (byte)'l'; req.Name[1] = (byte)'o';
            if (SysIoctl(s, SIOCGIFFLAGS, &req) != 0) throw Error("SIOCGIFFLAGS lo");
            req.Flags |= IFF_UP;
            if (SysIoctl(s, SIOCSIFFLAGS, &req) != 0) throw Error("bringing lo up");
        }
        finally { SysClose(s); }
    }

    public void WriteProcFile(string path, string value) => File.WriteAllText(path, value);

    public void Mask(string path) => RootfsBuilder.Mask(path);
    public void MakeReadonly(string path) => RootfsBuilder.MakeReadonly(path);

    public void RemountRootReadonly()
    {
        if (Mount(null, "/", null, MS_REMOUNT | MS_BIND | MS_RDONLY, null) != 0) throw Error("remounting / read-only");
    }

    public void SetRootPropagation(ulong flags)
    {
        if (Mount(null, "/", null, flags, null) != 0) throw Error("setting rootfs propagation");
    }

    public void Setsid() => Linux.Libc.Setsid();
    public void SetRlimits(List<SpecRlimit>? limits) => Rlimits.Apply(limits);

    public string ResolveProgram(string name, List<string> env)
    {
        if (name.StartsWith('/'))
        {
            // Checked now, at create, as runc does, so the create fails in runc's words (engines map them to exit
            // codes: Docker's 127 and 126) instead of the start failing later.
            if (SysAccess(name, 1 /* X_OK */) == 0) return name;
            throw new RtException(Errno == Errno_.ENOENT ? $"exec: \"{name}\": no such file or directory" : $"exec: \"{name}\": permission denied");
        }
        if (name.Contains('/')) return name;
        string pathVar = ExecStep.PathOf(env);
        foreach (var dir in pathVar.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate) && SysAccess(candidate, 1 /* X_OK */) == 0) return candidate;
        }
        throw new RtException($"executable \"{name}\" not found in PATH {pathVar}: executable file not found"); // Docker: exit 127
    }

    /// <summary>By fd, without magic links: a cwd of <c>/proc/self/fd/N</c> would otherwise enter — or create
    /// directories in — a host directory leaked to us as fd N (CVE-2024-21626 class).</summary>
    public void EnterCwd(string cwd)
    {
        int root = SysOpen("/", OFlag.Path | OFlag.Directory | OFlag.Cloexec, 0);
        if (root < 0) throw Error("opening /");
        try
        {
            int fd = SafePath.OpenOrCreate(root, cwd, false, "cwd");
            try
            {
                if (SysFchdir(fd) != 0) throw Error("chdir", cwd);
            }
            finally { SysClose(fd); }
        }
        finally { SysClose(root); }
    }

    public void CloseOnExec()
    {
        if (CloseRange(3, uint.MaxValue, CLOSE_RANGE_CLOEXEC) != 0) throw Error("close_range");
    }

    /// <summary>seccomp filters are per thread (no TSYNC: the .NET runtime's other threads are not the
    /// container's); this is the thread that calls execve, which hands the filter to the new program.</summary>
    public void LoadSeccomp(byte[] program, uint flags)
    {
        fixed (byte* p = program)
            if (SeccompSetFilter(p, program.Length / 8, flags) != 0) throw Error("loading the seccomp filter");
    }

    public void DropBounding(CapabilitySets caps) => caps.DropBounding();

    public void SetIds(SpecUser user, bool keepCaps)
    {
        if (keepCaps && Prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) throw Error("prctl(PR_SET_KEEPCAPS)");
        var groups = user.AdditionalGids?.ToArray() ?? [];
        fixed (uint* g = groups)
            if (Setgroups((nuint)groups.Length, g) != 0) throw Error("setgroups");
        if (Setresgid(user.Gid, user.Gid, user.Gid) != 0) throw Error($"setresgid {user.Gid}");
        if (Setresuid(user.Uid, user.Uid, user.Uid) != 0) throw Error($"setresuid {user.Uid}");
        if (keepCaps) Prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    }

    public void ApplyCapabilities(CapabilitySets caps) => caps.ApplyToCurrentThread();

    public void SetNoNewPrivs()
    {
        if (Prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw Error("prctl(PR_SET_NO_NEW_PRIVS)");
    }

    public void SetUpTerminal(InitConfig c, int syncFd) => Processes.Terminal.SetUpInInit(syncFd, c);

    public void ReadyAndWait(InitConfig c, int syncFd, int fifoFd)
    {
        if (!SysWriteAll(syncFd, "R"u8)) Exit(1);
        Span<byte> b = stackalloc byte[1];
        if (c.ExecFifo is null)
        {
            int n = SysReadRetry(syncFd, b);
            if (n != 1 || b[0] != (byte)'G') Exit(1);
            return;
        }
        // create: block on the FIFO opened before pivot_root until `start` writes a byte.
        if (SysReadRetry(fifoFd, b) != 1) throw Error("waiting for start");
        SysClose(fifoFd);
    }

    public void RunStartContainerHooks(InitConfig c)
    {
        if (Hooks.Any(c.StartContainerHooks))
            Hooks.Run("startContainer", c.StartContainerHooks, c.HookState!.Replace("\"status\":\"creating\"", "\"status\":\"created\""));
    }

    public void ResetIgnoredSignals() => Linux.Libc.ResetIgnoredSignals();

    public void Exec(string path, List<string> args, List<string> env)
    {
        byte** argv = Strings(args), envp = Strings(env);
        var p = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* pp = p) Execve(pp, argv, envp);
        int errno = Errno;
        Signal(SIGPIPE, 1); // ignored again: reporting to a parent that left must not kill us silently
        throw Error("exec " + args[0], errno: errno);
    }

    private static byte** Strings(List<string> list)
    {
        // Never freed: the process image is replaced by execve right after.
        byte** arr = (byte**)NativeMemory.Alloc((nuint)(list.Count + 1), (nuint)sizeof(nint));
        for (int i = 0; i < list.Count; i++)
        {
            var b = Encoding.UTF8.GetBytes(list[i]);
            byte* p = (byte*)NativeMemory.Alloc((nuint)b.Length + 1);
            b.CopyTo(new Span<byte>(p, b.Length));
            p[b.Length] = 0;
            arr[i] = p;
        }
        arr[list.Count] = null;
        return arr;
    }
}
