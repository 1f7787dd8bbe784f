using System.Text;
using System.Text.Json;
using Tinyo.Rt.Cgroups;
using Tinyo.Linux;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Processes;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Containers;


/// <summary>
/// The OCI runtime: creates, starts, runs, signals and deletes containers from OCI bundles. State lives in
/// <c>ROOT/containers/ID/</c> (<see cref="RuntimeRoot.Containers"/>; the CLI's <c>--root</c>, default
/// <c>/var/lib/tinyo</c>), so containers made from bundles and from images share one namespace of ids.
/// </summary>
/// <remarks>
/// <para><b>Process model.</b> A .NET process is multithreaded from its first instruction, so it never forks to run
/// code in the child. <see cref="Launch(string, string, bool)"/> creates the cgroup, then clones a child with
/// <c>CLONE_VM|CLONE_VFORK</c> and the spec's new namespaces (cgroup is unshared by the child once it sits in its
/// cgroup). The child runs only a table of raw syscalls; its first rows move it into the cgroup
/// (<see cref="Processes.CgroupJoin"/>). On the <b>direct start</b> (<see cref="Setup.DirectBackend"/>, the default
/// whenever the spec allows) the rest of the table builds the container — rootfs, mounts, pivot_root, masked paths,
/// hostname, rlimits, credentials, capabilities, no_new_privs, seccomp — and execs the container's process, pid 1 of
/// its pid namespace; clone returns once it runs, or with the failing step's error. On the <b>init path</b> (specs
/// with features the script lacks, and <see cref="Create"/>, which waits for <see cref="Start"/>) the table execs
/// <c>tinyort init</c> from a read-only sealed view of this binary (<see cref="Processes.SealedExecutable"/>,
/// CVE-2019-5736), which does the same work on its main thread and execs the process on that thread.</para>
/// <para><b>Handshake (init path).</b> A SOCK_SEQPACKET socketpair: the parent sends the <see cref="InitConfig"/>
/// and waits for <c>R</c> (ready) or <c>E</c>+message. Then it records the state and either sends <c>G</c> (run) or
/// returns (create: init blocks on <c>exec.fifo</c> until <see cref="Start"/> writes a byte). The socket is
/// close-on-exec, so EOF after <c>G</c> means the process runs.</para>
/// <para><b>No per-container daemon; who reaps.</b> For <see cref="Run"/> the caller is init's parent: it waits,
/// returns the exit code (and an OOM kill, from the cgroup's oom_kill counter) and removes the container. After
/// <see cref="Create"/> the creating process may exit; the container then belongs to the nearest subreaper
/// (tinyonode, which embeds this library, calls <see cref="ReapExited"/> when a child ends, which records exit code
/// and OOM verdict in the state) or else to the host's pid 1, which reaps it without telling anyone. So that the
/// exit is still recorded, the CLI hands a pidfd of the process, taken while it is still its child, to the root's
/// one exit monitor (<see cref="WatchExit(string)"/>, <see cref="ExitMonitor"/>), which reads the wait status from
/// the pidfd once the process is reaped (PIDFD_GET_INFO, Linux ≥ 6.15; <see cref="ExitInfo"/>) and records it with
/// <see cref="RecordExit"/>; on older kernels the exit code stays unknown. The status never depends on a reaper: it
/// is derived from the pid and the pid's start time (<see cref="ContainerRecord"/>), so a zombie, reaped or recycled pid reads as
/// <c>stopped</c>.</para>
/// <para><b>Cleanup.</b> All mounts live in the container's mount namespace and vanish with its last process; the
/// cgroup directories and the state directory are removed by <see cref="Delete"/> (or by <see cref="Run"/>), and by
/// any failed create before the error is reported, so bad input leaves nothing behind.</para>
/// </remarks>
public sealed partial class ContainerRuntime
{
    private readonly RuntimeRoot _root;
    private readonly RuntimeOptions _o;

    /// <summary>A runtime over <paramref name="root"/>.</summary>
    public ContainerRuntime(RuntimeRoot root, RuntimeOptions? options = null)
    {
        _root = root;
        _o = options ?? new RuntimeOptions();
    }

    /// <summary>The runtime root (state under <see cref="RuntimeRoot.Containers"/>).</summary>
    public RuntimeRoot Root => _root;

    /// <summary>This runtime with other stdio descriptors for the containers it launches (a detached container's
    /// log file): every other option is kept (<see cref="RuntimeOptions.WithStdio"/>).</summary>
    public ContainerRuntime WithStdio(int stdin, int stdout, int stderr) => new(_root, _o.WithStdio(stdin, stdout, stderr));

    private string Dir(string id) => Path.Combine(_root.Containers, id);

    private string[] InitCommand =>
        _o.InitCommand ?? [Environment.ProcessPath ?? throw new RtException("cannot find the runtime executable")];

    /// <summary>How to spawn this root's exit monitor (the init command: the same binary's hidden verbs).</summary>
    internal string[] MonitorCommand => InitCommand;

    /// <summary>The options this runtime was made with.</summary>
    internal RuntimeOptions Options => _o;

    /// <summary>A container whose process this runtime started and can wait for.</summary>
    public sealed class Launched
    {
        internal Launched(string dir, ContainerRecord rec, Cgroup cg) { _dir = dir; Record = rec; _cg = cg; }
        internal SpecHooks? Hooks;
        internal Action<string>? Warn;
        private readonly string _dir;
        private readonly Cgroup _cg;
        internal ContainerRecord Record { get; }
        /// <summary>Host pid of the container's process.</summary>
        public int Pid => Record.Pid;

        /// <summary>Sends a signal to the process (errors ignored: it may be gone already).</summary>
        public void Signal(int signal) => Libc.Kill(Pid, signal);

        /// <summary>Waits for the process to end, then removes the container; with <paramref name="remove"/> false
        /// it records the exit in the state and removes only the cgroup (an image container kept as <c>exited</c>).</summary>
        public unsafe ExitStatus Wait(bool remove = true)
        {
            int status = 0;
            while (WaitPid(Pid, &status, 0) < 0)
            {
                if (Errno == Errno_.EINTR) continue;
                // Someone else in this process reaped it (a waitpid(-1) loop): the status is lost, the cleanup is not.
                Destroy(_dir, Record);
                throw new RtException($"container {Record.Id}: its exit status was collected by another waiter in this process");
            }
            var (code, sig) = DecodeWaitStatus(status);
            bool oom = sig == SIGKILL && _cg.OomKills() > 0;
            if (!remove)
            {
                Record.ExitCode = code;
                Record.ExitSignal = sig;
                Record.OomKilled = oom;
                using (ContainerRecord.Lock(_dir)) Record.Save(_dir);
                _cg.Destroy();
                return new ExitStatus(code, sig, oom);
            }
            Destroy(_dir, Record);
            RunPoststop(Hooks, Record.Id, Record.Bundle, Record.Annotations, Warn);
            return new ExitStatus(code, sig, oom);
        }
    }

    /// <summary>Creates the container; for a foreground run also starts it.</summary>
    public Launched Launch(string id, string bundleDir, bool detached) => Launch(id, bundleDir, detached, null);

    /// <summary>
    /// Creates the container; for a foreground run also starts it. With <paramref name="overlay"/> (image containers)
    /// the state directory <paramref name="bundleDir"/> already exists, made by the caller with the upper and work
    /// directories, and init mounts the overlay as the rootfs inside the container's mount namespace.
    /// </summary>
    public Launched Launch(string id, string bundleDir, bool detached, Rootfs.OverlayLayers? overlay)
    {
        Bundle.ValidateId(id);
        return Launch(id, Bundle.Load(bundleDir), detached, overlay);
    }

    /// <summary>
    /// <see cref="Launch(string, string, bool, Rootfs.OverlayLayers?)"/> with the bundle in memory: an image
    /// container's caller built the spec itself and wrote config.json only for the OCI state, so the start path does
    /// not read back and parse what this process just wrote.
    /// </summary>
    public unsafe Launched Launch(string id, Bundle bundle, bool detached, Rootfs.OverlayLayers? overlay)
    {
        Bundle.ValidateId(id);
        foreach (var w in bundle.Warnings) _o.Warn?.Invoke(w);
        var spec = bundle.Spec;
        var host = _o.Cgroups ?? CgroupHost.Current;
        using var compat = PrepareCompat(id, bundle);
        Directory.CreateDirectory(_root.Containers);
        var dir = Dir(id);
        if (overlay is not null)
        {
            if (Path.GetFullPath(bundle.Directory) != dir) throw new RtException($"container {id}: an image container's bundle is its state directory");
        }
        else if (SysMkdirAt(AT_FDCWD_, dir, 0x1C9 /* 0711 */) != 0)
        {
            if (Errno == Errno_.EEXIST) throw new RtException($"container {id} already exists");
            throw Error("creating state directory", dir);
        }
        Cgroup? cg = null;
        int pid = -1;
        int* sv = stackalloc int[2] { -1, -1 };
        try
        {
            string? fifo = null;
            if (detached)
            {
                fifo = Path.Combine(dir, ContainerRecord.FifoName);
                if (SysMkfifo(fifo, 0x180 /* 0600 */) != 0) throw Error("mkfifo", fifo);
            }
            int flags = 0;
            foreach (var ns in spec.Linux!.Namespaces ?? [])
                // cgroup: unshared by the child once it is inside its cgroup, so that cgroup becomes the namespace's root.
                if (string.IsNullOrEmpty(ns.Path) && ns.Type != "cgroup")
                    flags |= Array.Find(Bundle.NamespaceTypes, t => t.Type == ns.Type).Flag;
            bool userNs = (flags & CLONE_NEWUSER) != 0;
            var config = new InitConfig
            {
                Id = id, Spec = spec, Rootfs = bundle.Rootfs, ExecFifo = fifo, CgroupV2 = host.IsV2,
                CgroupV1Hierarchies = host.V1.Select(h => h.Options).ToList(),
                OverlayLower = overlay is null ? null : [.. overlay.LowerTopFirst], OverlayUpper = overlay?.Upper, OverlayWork = overlay?.Work,
                SeccompProgram = bundle.Seccomp?.Program, SeccompFlags = bundle.Seccomp?.Flags ?? 0,
            };
            // The cgroup exists before the child does, and the child moves itself into it as its first act (see
            // CgroupJoin: far cheaper than the parent moving it), so everything it does is accounted and limited.
            // In a new user namespace the child is unprivileged until its maps are written: the parent moves it.
            Setup.StartTrace.Mark("launch: checks, init config");
            cg = Cgroup.Create(host, CgroupPath.For(id, spec.Linux.CgroupsPath), spec.Linux.Resources, _o.Warn);
            if (CgroupView.Needed(spec)) config.CgroupSubpaths = CgroupView.Subpaths(host, cg);
            Setup.StartTrace.Mark("cgroup created");
            int[]? join = null;
            int devNull = -1, cluster = -1;
            var clusterDir = ClusterCgroup.Of(spec);
            // The set-up plan, built once: the direct start runs it, or init builds it again from the same config.
            var plan = Setup.ContainerPlan.For(config);
            bool direct = _o.DirectStart && plan.CanRunDirect;
            Setup.StartTrace.Mark("set-up plan built");
            try
            {
                if (direct)
                {
                    // The fast path: the clone child builds the container from a syscall script and execs the
                    // process itself; when this returns, the process runs (or the start failed and the child is gone).
                    join = CgroupJoin.Open(cg);
                    if (clusterDir is not null) cluster = ClusterCgroup.Open(clusterDir);
                    pid = Setup.DirectBackend.Start(plan, join, [_o.Stdin, _o.Stdout, _o.Stderr], flags, cluster);
                }
                else
                {
                    if (SysSocketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) throw Error("socketpair");
                    // A terminal container's stdio is its pty: init gets /dev/null instead of ours, so it keeps no copy
                    // of our stdio while it waits for start (a JIT-hosted init's runtime dups 0-2; containerd's shim
                    // reads the output of `create` to EOF, and would wait for the start that it never sends).
                    int[] stdio = [_o.Stdin, _o.Stdout, _o.Stderr];
                    if (spec.Process!.Terminal)
                    {
                        devNull = SysOpen("/dev/null", OFlag.RdWr | OFlag.Cloexec, 0);
                        if (devNull < 0) throw Error("opening", "/dev/null");
                        stdio = [devNull, devNull, devNull];
                    }
                    if (userNs)
                    {
                        using var mapper = UserNamespace.Prepare(sv[0], sv[1], spec.Linux);
                        try { pid = InitLauncher.Launch(InitCommand, _o.SealInit, sv[1], stdio, flags, default, mapper, plan); }
                        finally { mapper.Finish(); }
                        cg.AddProcess(pid);
                    }
                    else
                    {
                        join = CgroupJoin.Open(cg);
                        pid = InitLauncher.Launch(InitCommand, _o.SealInit, sv[1], stdio, flags, join, plan: plan);
                    }
                    // init waits for its configuration (sent below): moved before it runs the container's program.
                    if (clusterDir is not null) ClusterCgroup.Move(clusterDir, pid);
                }
            }
            finally
            {
                CgroupJoin.Close(join);
                if (devNull >= 0) SysClose(devNull);
                if (cluster >= 0) SysClose(cluster);
            }
            Setup.StartTrace.Mark(direct ? "clone+exec (direct)" : "clone+init");
            if (!direct)
            {
                SysClose(sv[1]);
                sv[1] = -1;
                ConfigureCompat(config, spec, compat, pid);
                config.UserNs = userNs;
                if (!SysWriteAll(sv[0], InitConfigCodec.Encode(config)))
                    throw InitFailure(pid, "sending the configuration to init failed");
                if (userNs && fifo is not null) UserNamespace.SendFifo(sv[0], fifo);
                if (userNs && overlay is not null) UserNamespace.SendOverlay(sv[0], pid, overlay);
                AwaitReady(sv[0], pid, compat);
            }
            var rec = new ContainerRecord
            {
                Id = id, Bundle = bundle.Directory, Rootfs = bundle.Rootfs, Pid = pid,
                PidStartTime = ContainerRecord.ReadStat(pid)?.StartTime ?? 0,
                Created = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'00Z'", System.Globalization.CultureInfo.InvariantCulture),
                Annotations = spec.Annotations, CgroupDirs = [.. cg.Directories], CgroupV2 = cg.IsV2,
            };
            // A restart saves over the previous record, whose exit the monitor may be recording right now.
            using (overlay is null ? null : ContainerRecord.Lock(dir)) rec.Save(dir);
            Setup.StartTrace.Mark("state saved");
            if (!direct) HandOffTerminal(compat);
            if (!detached && !direct)
            {
                if (!SysWriteAll(sv[0], "G"u8)) throw InitFailure(pid, "starting the process failed");
                Expect(sv[0], pid, '\0');
                RunPoststart(compat, pid);
            }
            return new Launched(dir, rec, cg) { Hooks = spec.Hooks, Warn = _o.Warn };
        }
        catch
        {
            if (pid > 0)
            {
                Libc.Kill(pid, SIGKILL);
                int st;
                WaitPid(pid, &st, 0);
            }
            try { cg?.Destroy(); } catch (RtException) { }
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            throw;
        }
        finally
        {
            if (sv[0] >= 0) SysClose(sv[0]);
            if (sv[1] >= 0) SysClose(sv[1]);
        }
    }

    /// <summary>Reads init's answer: <paramref name="want"/> (or EOF, when <paramref name="want"/> is NUL, meaning
    /// the process was exec'd), otherwise an error message or init's death becomes an exception.</summary>
    private static void Expect(int fd, int pid, char want)
    {
        var buf = new byte[64 * 1024];
        int n = SysReadRetry(fd, buf);
        if (n < 0) throw Error("reading from init");
        if (n == 0)
        {
            if (want == '\0') return;
            throw InitFailure(pid, "init exited before the container was ready");
        }
        if (buf[0] == (byte)want && n == 1) return;
        if (buf[0] == (byte)'E') throw new RtException(Encoding.UTF8.GetString(buf, 1, n - 1));
        throw new RtException("unexpected message from init");
    }

    private static unsafe RtException InitFailure(int pid, string what)
    {
        int st = 0;
        if (WaitPid(pid, &st, WNOHANG) == pid)
        {
            var (code, _) = DecodeWaitStatus(st);
            return new RtException($"{what} (init exit status {code})");
        }
        return new RtException(what);
    }
}
