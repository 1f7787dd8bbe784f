using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Tinyo.Linux;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Rootfs;
using Tinyo.Rt.Security;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Containers;

/// <summary>
/// The container side of start-up: the code of <c>tinyort init FD</c>, running as pid 1 of the container's new
/// namespaces in a freshly exec'd image of the runtime. It receives an <see cref="InitConfig"/> on the sync socket,
/// builds the container and execs its process. Everything here runs on the main thread, which is the thread that
/// execs: unshare, setns, capabilities and the no_new_privs bit are per-thread.
/// </summary>
/// <remarks>
/// Protocol on the SOCK_SEQPACKET sync socket: parent → init: the config (<see cref="InitConfigCodec"/>); init → parent: <c>R</c> when ready
/// or <c>E</c>+message on failure; then init waits for the start signal: <c>G</c> on the socket (run) or a byte on
/// the exec FIFO (create/start), and execs. The socket is close-on-exec, so the parent of a run sees EOF once the
/// process runs, or an <c>E</c> message if execve failed.
/// </remarks>
public static class ContainerInit
{
    /// <summary>
    /// The hidden <c>init FD</c> verb of every binary that embeds the runtime (<c>tinyort</c>, <c>tinyonode</c>):
    /// when <paramref name="args"/> are exactly that, runs init (returning only on failure, with the exit code) and
    /// returns true; likewise the <c>monitor</c> verb (<see cref="Processes.ExitMonitor.TryRunVerb"/>). Checked
    /// first thing in <c>Main</c>, before any command-line parsing, to keep init's start minimal.
    /// </summary>
    public static bool TryRunVerb(string[] args, out int code)
    {
        code = 0;
        // The other hidden verb: a root's exit monitor (Processes/ExitMonitor), spawned by the CLI.
        if (args.Length == 5 && Processes.ExitMonitor.TryRunVerb(args, out code)) return true;
        if (args.Length != 2 || args[0] != "init") return false;
        code = int.TryParse(args[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var fd)
            ? Run(fd)
            : 2;
        return true;
    }

    /// <summary>Runs init. Returns only on failure, with the process's exit code.</summary>
    public static unsafe int Run(int syncFd)
    {
        // Start from a clean signal state: the launcher blocked everything across clone.
        ulong none = 0;
        PthreadSigmask(SIG_SETMASK, &none, null);
        SysFcntl(syncFd, F_SETFD, FD_CLOEXEC);
        try
        {
            // Native memory: a 1 MiB managed array would land on the large object heap and wake the GC in a process
            // that lives for a few milliseconds.
            const int Max = 1 << 20;
            byte* buf = (byte*)NativeMemory.Alloc(Max);
            int n = SysReadRetry(syncFd, new Span<byte>(buf, Max));
            if (n <= 0) return 1; // the parent went away before sending anything
            var c = InitConfigCodec.Decode(new ReadOnlySpan<byte>(buf, n));
            NativeMemory.Free(buf);
            SyncFd = syncFd;
            Prepare(c, out var path, out var argv, out var envp);
            if (c.Terminal) Processes.Terminal.SetUpInInit(syncFd, c);
            Send(syncFd, "R");
            WaitForStart(syncFd, c);
            if (Hooks.Any(c.StartContainerHooks))
                Hooks.Run("startContainer", c.StartContainerHooks, c.HookState!.Replace("\"status\":\"creating\"", "\"status\":\"created\""));
            // Ignored signals stay ignored across execve (the .NET runtime ignores SIGPIPE; the launching process may
            // have ignored real-time ones, which init inherits): give them back their default — all 64, as the direct
            // start does. Handled ones reset by themselves at exec, and must stay until then (the runtime needs SIGSEGV).
            ResetIgnoredSignals();
            // With no_new_privs the filter goes on as late as possible, so it constrains only the process (runc's
            // order); without it, loading needs CAP_SYS_ADMIN and happened in Prepare before the capabilities drop.
            if (c.Spec.Process!.NoNewPrivileges) LoadSeccomp(c);
            Exec(path, argv, envp); // returns only on failure
            int errno = Errno;
            Signal(SIGPIPE, 1); // ignored again: reporting to a parent that left must not kill us silently
            throw Error("exec " + c.Spec.Process!.Args![0], errno: errno);
        }
        catch (Exception e)
        {
            string msg = e is RtException ? e.Message : $"{e.GetType().Name}: {e.Message}";
            if (!Send(syncFd, "E" + msg))
            {
                var line = Encoding.UTF8.GetBytes("tinyort init: " + msg + "\n");
                SysWriteAll(2, line);
            }
            return 1;
        }
    }

    /// <summary>
    /// Enters (creating when missing) the working directory resolved inside the root without magic links, by fd: a
    /// cwd of <c>/proc/self/fd/N</c> would otherwise enter — or create directories in — a host directory leaked to us
    /// as fd N by whoever started the runtime (CVE-2024-21626 class).
    /// </summary>
    private static void EnterCwd(string cwd)
    {
        int root = SysOpen("/", OFlag.Path | OFlag.Directory | OFlag.Cloexec, 0);
        if (root < 0) throw Error("opening /");
        try
        {
            int fd = Rootfs.SafePath.OpenOrCreate(root, cwd, false, "cwd");
            try
            {
                if (SysFchdir(fd) != 0) throw Error("chdir", cwd);
            }
            finally { SysClose(fd); }
        }
        finally { SysClose(root); }
    }

    private static bool Send(int fd, string msg) => SysWriteAll(fd, Encoding.UTF8.GetBytes(msg));

    private static void WaitForStart(int syncFd, InitConfig c)
    {
        Span<byte> b = stackalloc byte[1];
        if (c.ExecFifo is null)
        {
            int n = SysReadRetry(syncFd, b);
            if (n != 1 || b[0] != (byte)'G') { Libc.Exit(1); }
            return;
        }
        // create: block on the FIFO opened before pivot_root until `start` writes a byte.
        int fifo = FifoFd;
        int r = SysReadRetry(fifo, b);
        if (r != 1) throw Error("waiting for start");
        SysClose(fifo);
    }

    private static int FifoFd = -1;
    private static int SyncFd = -1;

    /// <summary>Before pivot_root: let the parent run prestart/createRuntime hooks (<c>H</c> … <c>h</c>), then run the
    /// createContainer hooks here, in the container's namespaces.</summary>
    private static void BeforePivot(InitConfig c)
    {
        if (c.PauseBeforePivot)
        {
            if (!Send(SyncFd, "H")) throw Error("asking the runtime to run the createRuntime hooks");
            Span<byte> b = stackalloc byte[1];
            if (SysReadRetry(SyncFd, b) != 1 || b[0] != (byte)'h') Libc.Exit(1); // the parent gave up (a hook failed)
        }
        if (Hooks.Any(c.CreateContainerHooks)) Hooks.Run("createContainer", c.CreateContainerHooks, c.HookState!);
    }

    private static unsafe void Prepare(InitConfig c, out string path, out nint argv, out nint envp)
    {
        var spec = c.Spec;
        var linux = spec.Linux!;
        var proc = spec.Process!;
        Umask(0);
        // The FIFO lives in the host's state directory: open it before pivot_root hides that.
        if (c.ExecFifo is not null && c.UserNs) FifoFd = Processes.UserNamespace.ReceiveFifo(SyncFd);
        else if (c.ExecFifo is not null)
        {
            FifoFd = SysOpen(c.ExecFifo, OFlag.RdWr | OFlag.Cloexec, 0);
            if (FifoFd < 0) throw Error("opening", c.ExecFifo);
        }
        if (c.UserNs && c.OverlayLower is { Count: > 0 }) c.OverlayMountFd = Processes.UserNamespace.ReceiveOverlay(SyncFd);
        bool newNet = false;
        foreach (var ns in linux.Namespaces ?? [])
        {
            int flag = Array.Find(Bundle.NamespaceTypes, t => t.Type == ns.Type).Flag;
            if (!string.IsNullOrEmpty(ns.Path))
            {
                int fd = SysOpen(ns.Path, OFlag.RdOnly | OFlag.Cloexec, 0);
                if (fd < 0) throw Error("opening namespace", ns.Path);
                if (Setns(fd, flag) != 0) throw Error($"joining {ns.Type} namespace", ns.Path);
                SysClose(fd);
            }
            else if (ns.Type == "cgroup" && Unshare(CLONE_NEWCGROUP) != 0) throw Error("unshare cgroup namespace");
            else if (ns.Type == "network") newNet = true;
        }
        // Not dumpable: other processes in the container cannot ptrace init or open its /proc files (its exe).
        Prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

        RootfsBuilder.Build(c, c.PauseBeforePivot || Hooks.Any(c.CreateContainerHooks) ? () => BeforePivot(c) : null);

        if (!string.IsNullOrEmpty(spec.Hostname)) SetName(spec.Hostname, true);
        if (!string.IsNullOrEmpty(spec.Domainname)) SetName(spec.Domainname, false);
        if (newNet) LoopbackUp();
        foreach (var (k, v) in linux.Sysctl ?? [])
        {
            try { File.WriteAllText("/proc/sys/" + k.Replace('.', '/'), v); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new RtException($"sysctl {k}={v}: {e.Message}"); }
        }
        RootfsBuilder.Finish(c);
        if (proc.OomScoreAdj is { } adj)
        {
            try { File.WriteAllText("/proc/self/oom_score_adj", adj.ToString(System.Globalization.CultureInfo.InvariantCulture)); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new RtException($"oom_score_adj {adj}: {e.Message}"); }
        }
        Setsid();
        Rlimits.Apply(proc.Rlimits);

        var env = proc.Env ?? [];
        path = ResolveExecutable(proc.Args![0], env);
        EnterCwd(proc.Cwd!);

        // No descriptor of the runtime reaches the process: everything above stdio becomes close-on-exec.
        if (CloseRange(3, uint.MaxValue, CLOSE_RANGE_CLOEXEC) != 0) throw Error("close_range");

        var user = proc.User ?? new SpecUser();
        var caps = CapabilitySets.FromSpec(proc.Capabilities);
        if (!proc.NoNewPrivileges) LoadSeccomp(c);
        caps.DropBounding();
        // Keep the permitted set across the uid change; the spec's sets are installed right after.
        if (Prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) throw Error("prctl(PR_SET_KEEPCAPS)");
        var groups = user.AdditionalGids?.ToArray() ?? [];
        fixed (uint* g = groups)
            if (Setgroups((nuint)groups.Length, g) != 0) throw Error("setgroups");
        if (Setresgid(user.Gid, user.Gid, user.Gid) != 0) throw Error($"setresgid {user.Gid}");
        if (Setresuid(user.Uid, user.Uid, user.Uid) != 0) throw Error($"setresuid {user.Uid}");
        Prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
        caps.ApplyToCurrentThread();
        if (proc.NoNewPrivileges && Prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw Error("prctl(PR_SET_NO_NEW_PRIVS)");
        Umask(user.Umask ?? 0x12 /* 0022 */);

        argv = (nint)Strings(proc.Args);
        envp = (nint)Strings(env);
    }

    /// <summary>
    /// Installs the parent-compiled filter on this thread. seccomp filters are per thread (no TSYNC: the .NET
    /// runtime's other threads are not the container's); this is the thread that calls execve, which ends the other
    /// threads and hands the filter to the new program, so the process runs under it from its first instruction.
    /// The filter must let through what init still does after it: execve, and on failure a write to report it.
    /// </summary>
    private static unsafe void LoadSeccomp(InitConfig c)
    {
        if (c.SeccompProgram is not { Length: > 0 } prog) return;
        fixed (byte* p = prog)
            if (SeccompSetFilter(p, prog.Length / 8, c.SeccompFlags) != 0) throw Error("loading the seccomp filter");
    }

    private static unsafe void Exec(string path, nint argv, nint envp)
    {
        var p = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* pp = p) Execve(pp, (byte**)argv, (byte**)envp);
    }

    /// <summary>args[0] as execvp(3) would find it, in the container's PATH (or the default one).</summary>
    private static string ResolveExecutable(string name, List<string> env)
    {
        if (name.StartsWith('/'))
        {
            // Checked now, at create, as runc does, so the create fails in runc's words (engines map them to exit
            // codes: Docker's 127 and 126) instead of the start failing later.
            if (SysAccess(name, 1 /* X_OK */) == 0) return name;
            throw new RtException(Errno == Errno_.ENOENT ? $"exec: \"{name}\": no such file or directory" : $"exec: \"{name}\": permission denied");
        }
        if (name.Contains('/')) return name;
        string pathVar = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var e in env) if (e.StartsWith("PATH=")) pathVar = e[5..];
        foreach (var dir in pathVar.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate) && SysAccess(candidate, 1 /* X_OK */) == 0)
                return candidate;
        }
        throw new RtException($"executable \"{name}\" not found in PATH {pathVar}: executable file not found"); // Docker: exit 127
    }

    private static unsafe void SetName(string name, bool host)
    {
        var b = Encoding.UTF8.GetBytes(name);
        fixed (byte* p = b)
            if ((host ? Sethostname(p, (nuint)b.Length) : Setdomainname(p, (nuint)b.Length)) != 0)
                throw Error(host ? "sethostname" : "setdomainname", name);
    }

    private static unsafe void LoopbackUp()
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

    private static unsafe byte** Strings(List<string> list)
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
