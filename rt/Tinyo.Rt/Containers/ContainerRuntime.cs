using System.Text;
using System.Text.Json;
using Tinyo.Rt.Cgroups;
using Tinyo.Linux;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Processes;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Containers;

/// <summary>Settings of a <see cref="ContainerRuntime"/>.</summary>
public sealed class RuntimeOptions
{
    /// <summary>
    /// How to start the runtime binary as a container's init: the executable and any leading arguments before the
    /// hidden <c>init</c> verb. Default: this process's own executable (the NativeAOT <c>tinyort</c>). Tests running
    /// under <c>dotnet</c> point it at a built <c>tinyort</c>.
    /// </summary>
    public string[]? InitCommand { get; set; }
    /// <summary>
    /// Exec init through a read-only sealed view of its binary (CVE-2019-5736 defence, see SealedExecutable). Default
    /// true; only an init that must find files next to itself (a framework-dependent test build) turns it off.
    /// </summary>
    public bool SealInit { get; set; } = true;
    /// <summary>File descriptors given to the container as its stdin, stdout and stderr.</summary>
    public int Stdin { get; set; }
    /// <summary>See <see cref="Stdin"/>.</summary>
    public int Stdout { get; set; } = 1;
    /// <summary>See <see cref="Stdin"/>.</summary>
    public int Stderr { get; set; } = 2;
    /// <summary>Receives warnings (spec features recognised but not enforced).</summary>
    public Action<string>? Warn { get; set; }
    /// <summary>The host's cgroup layout (default: detected).</summary>
    public CgroupHost? Cgroups { get; set; }
    /// <summary>
    /// Start containers without exec'ing <c>tinyort init</c> into them when the spec allows (see
    /// <c>Processes/DirectStart</c>): the clone child builds the container from a syscall script prepared here and
    /// execs the process itself. Default true; false (or TINYO_INIT=1 in the environment) always takes the init path.
    /// </summary>
    public bool DirectStart { get; set; } = Environment.GetEnvironmentVariable("TINYO_INIT") != "1";
    /// <summary>runc's <c>--console-socket</c>: where the pty master of a <c>process.terminal</c> container is sent.</summary>
    public string? ConsoleSocket { get; set; }
    /// <summary>Receives the pty master of a <c>process.terminal</c> container when there is no console socket
    /// (foreground <c>run -t</c>); the callee owns the descriptor.</summary>
    public Action<int>? OnTerminal { get; set; }
}

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

    private string Dir(string id) => Path.Combine(_root.Containers, id);

    private string[] InitCommand =>
        _o.InitCommand ?? [Environment.ProcessPath ?? throw new RtException("cannot find the runtime executable")];

    /// <summary>Creates a container (status <c>created</c>): namespaces, cgroup and rootfs are ready, the process
    /// waits for <see cref="Start"/>. Returns its pid.</summary>
    public int Create(string id, string bundleDir) => Launch(id, bundleDir, detached: true).Pid;

    /// <summary>Starts the process of a created container.</summary>
    public void Start(string id)
    {
        Bundle.ValidateId(id);
        var dir = Dir(id);
        var rec = ContainerRecord.Load(dir, id);
        var status = rec.Status(dir);
        if (status != "created") throw new RtException($"container {id} is {status}, not created");
        var fifo = Path.Combine(dir, ContainerRecord.FifoName);
        var hooks = ReadHooks(rec.Bundle);
        var initExe = Oci.Hooks.Any(hooks?.Poststart) ? ExeOf(rec.Pid) : null;
        int fd = SysOpen(fifo, OFlag.WrOnly | OFlag.NonBlock | OFlag.Cloexec, 0);
        if (fd < 0)
        {
            if (Errno is Errno_.ENXIO or Errno_.ENOENT) throw new RtException($"container {id} is not waiting to start (its init is gone)");
            throw Error("opening", fifo);
        }
        try
        {
            if (!SysWriteAll(fd, "0"u8)) throw Error("signalling start on", fifo);
        }
        finally { SysClose(fd); }
        File.Delete(fifo);
        if (initExe is not null) RunPoststart(rec, hooks!, initExe);
    }

    /// <summary>Runs a container in the foreground: create, start, wait; returns how it ended, having removed the
    /// container (state, cgroup; its mounts died with its mount namespace).</summary>
    public ExitStatus Run(string id, string bundleDir, Action<int>? started = null)
    {
        var c = Launch(id, bundleDir, detached: false);
        started?.Invoke(c.Pid);
        return c.Wait();
    }

    /// <summary>The OCI state of a container.</summary>
    public OciState State(string id)
    {
        Bundle.ValidateId(id);
        var dir = Dir(id);
        return ContainerRecord.Load(dir, id).ToState(dir);
    }

    /// <summary>The states of all containers, ordered by id.</summary>
    public List<OciState> List()
    {
        var l = new List<OciState>();
        if (!Directory.Exists(_root.Containers)) return l;
        foreach (var d in Directory.GetDirectories(_root.Containers).Order(StringComparer.Ordinal))
        {
            var id = Path.GetFileName(d);
            try { l.Add(ContainerRecord.Load(d, id).ToState(d)); }
            catch (RtException) { } // an entry being created or deleted right now
        }
        return l;
    }

    /// <summary>
    /// Records the exit status of every container whose process is this process's child and has ended (waitpid with
    /// WNOHANG on each recorded pid). A subreaper embedding the runtime (tinyonode) calls it on SIGCHLD, so detached
    /// containers keep their exit code and OOM verdict after they stop; see <see cref="ExitOf"/>. Returns how many
    /// exits it recorded.
    /// </summary>
    public unsafe int ReapExited()
    {
        int n = 0;
        if (!Directory.Exists(_root.Containers)) return 0;
        foreach (var d in Directory.GetDirectories(_root.Containers))
        {
            ContainerRecord rec;
            try { rec = ContainerRecord.Load(d, Path.GetFileName(d)); }
            catch (RtException) { continue; }
            if (rec.ExitCode is not null || rec.Pid <= 0) continue;
            int st = 0;
            if (WaitPid(rec.Pid, &st, WNOHANG) != rec.Pid) continue; // still running, or not our child
            if (RecordExitIn(d, rec.Id, rec.Pid, rec.PidStartTime, st) is not null) n++;
        }
        return n;
    }

    /// <summary>
    /// Records how a container's process ended — exit code, signal, and the OOM verdict read from its cgroup — in
    /// its state, unless the state is of another process by now (<paramref name="pid"/> and, when given,
    /// <paramref name="startTime"/> must match the record: the container may have been deleted and made again, or
    /// restarted) or holds an exit already. The exit monitor (<see cref="ExitMonitor"/>) and tinyonode, for
    /// containers it re-adopted, call it with a wait status read from a pidfd (<see cref="ExitInfo"/>). Returns
    /// whether it recorded.
    /// </summary>
    public bool RecordExit(string id, int pid, ulong? startTime, int waitStatus)
    {
        Bundle.ValidateId(id);
        return RecordExitIn(Dir(id), id, pid, startTime, waitStatus) is not null;
    }

    /// <summary><see cref="RecordExit"/> on a state directory, under its lock (a restart saving a new record, or a
    /// delete, may run at the same moment in another process).</summary>
    internal static ExitStatus? RecordExitIn(string dir, string id, int pid, ulong? startTime, int waitStatus)
    {
        using var held = ContainerRecord.Lock(dir);
        if (held is null) return null; // deleted meanwhile
        ContainerRecord rec;
        try { rec = ContainerRecord.Load(dir, id); }
        catch (RtException) { return null; }
        if (rec.Pid != pid || (startTime is { } t && rec.PidStartTime != t) || rec.ExitCode is not null) return null;
        var (code, sig) = DecodeWaitStatus(waitStatus);
        // The cgroup's oom_kill counter tells an OOM kill from any other SIGKILL (it outlives the processes; the
        // directory is removed only by delete or ReleaseCgroup).
        bool oom = sig == SIGKILL && Cgroup.Open(rec.CgroupDirs, rec.CgroupV2).OomKills() > 0;
        rec.ExitCode = code;
        rec.ExitSignal = sig;
        rec.OomKilled = oom;
        try { rec.Save(dir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; } // removed meanwhile
        return new ExitStatus(code, sig, oom);
    }

    /// <summary>
    /// Has the exit of a container whose process this process started (and has not reaped) recorded after this
    /// process exits: takes a pidfd of the process and hands it to the root's exit monitor
    /// (<see cref="ExitMonitor"/>), starting the monitor when none answers. For detached starts from a CLI that
    /// exits right away (<c>run -d</c>, <c>create</c>); an embedding daemon that reaps its own children does not
    /// need it. Returns false (with a warning) when no monitor took it; true also when there is nothing to do (a
    /// kernel before 6.15, where the exit code stays unknown, or <c>TINYO_EXIT_MONITOR=0</c>).
    /// </summary>
    public bool WatchExit(string id)
    {
        Bundle.ValidateId(id);
        return WatchExit(ContainerRecord.Load(Dir(id), id));
    }

    /// <summary><see cref="WatchExit(string)"/> for a container just launched by this process.</summary>
    public bool WatchExit(Launched c) => WatchExit(c.Record);

    private bool WatchExit(ContainerRecord rec)
    {
        var err = ExitMonitor.Hand(_root, InitCommand, rec.Id, rec.Pid, rec.PidStartTime);
        if (err is not null) _o.Warn?.Invoke($"container {rec.Id}: its exit code will not be recorded: {err}");
        return err is null;
    }

    /// <summary>
    /// Removes the cgroup of a stopped container that is kept (an orchestrator's exited container waiting for its
    /// restart or removal), as <see cref="Launched.Wait"/> does for its own: no empty cgroups stay behind on the
    /// host. Nothing to do when the container runs, is gone, or has no cgroup left.
    /// </summary>
    public void ReleaseCgroup(string id)
    {
        Bundle.ValidateId(id);
        var dir = Dir(id);
        ContainerRecord rec;
        try { rec = ContainerRecord.Load(dir, id); }
        catch (RtException) { return; }
        if (rec.Status(dir) != "stopped") return;
        Cgroup.Open(rec.CgroupDirs, rec.CgroupV2).Destroy();
    }

    /// <summary>The recorded exit of a stopped container, or null when no reaper recorded one.</summary>
    public ExitStatus? ExitOf(string id)
    {
        Bundle.ValidateId(id);
        var rec = ContainerRecord.Load(Dir(id), id);
        return rec.ExitCode is { } c ? new ExitStatus(c, rec.ExitSignal ?? 0, rec.OomKilled ?? false) : null;
    }

    /// <summary>Sends <paramref name="signal"/> to the container's process (or, with <paramref name="all"/>, to every
    /// process in its cgroup).</summary>
    public void Kill(string id, int signal, bool all = false)
    {
        Bundle.ValidateId(id);
        var dir = Dir(id);
        var rec = ContainerRecord.Load(dir, id);
        var status = rec.Status(dir);
        if (status == "stopped" && !all) throw new RtException($"container {id} is not running");
        if (all) Cgroup.Open(rec.CgroupDirs, rec.CgroupV2).Signal(signal);
        else if (Libc.Kill(rec.Pid, signal) != 0) throw Error($"kill {id}");
    }

    /// <summary>Deletes a container: refuses a running one unless <paramref name="force"/>, which kills it first.
    /// Afterwards no process, cgroup or state of it remains.</summary>
    public void Delete(string id, bool force = false)
    {
        Bundle.ValidateId(id);
        var dir = Dir(id);
        // runc: `delete --force` of a container that does not exist succeeds (conmon and podman clean up with it).
        if (force && !Directory.Exists(dir)) return;
        if (Directory.Exists(dir) && !File.Exists(Path.Combine(dir, ContainerRecord.FileName)))
        {
            // A create that was killed before it recorded anything: its init died with it (the sync socket closed),
            // so only the directory and, at most, a cgroup at the default path remain.
            if (!force) throw new RtException($"container {id} is incomplete (its creation was interrupted): use --force to remove it");
            var host = _o.Cgroups ?? CgroupHost.Current;
            var rel = CgroupPath.For(id, null);
            var dirs = host.IsV2 ? [Path.Combine(host.V2Root!, rel)] : host.V1.Select(h => Path.Combine(h.MountPoint, rel)).ToList();
            Cgroup.Open(dirs, host.IsV2).Destroy();
            Directory.Delete(dir, recursive: true);
            return;
        }
        var rec = ContainerRecord.Load(dir, id);
        var status = rec.Status(dir);
        if (status == "running" && !force) throw new RtException($"container {id} is running: stop it first or use --force");
        var hooks = ReadHooks(rec.Bundle);
        Destroy(dir, rec);
        RunPoststop(hooks, id, rec.Bundle, rec.Annotations, _o.Warn);
    }

    private static void Destroy(string dir, ContainerRecord rec)
    {
        if (ContainerRecord.IsAlive(rec.Pid, rec.PidStartTime)) Libc.Kill(rec.Pid, SIGKILL);
        var cg = Cgroup.Open(rec.CgroupDirs, rec.CgroupV2);
        cg.Destroy();
        WaitGone(rec.Pid, rec.PidStartTime);
        using (ContainerRecord.Lock(dir)) Directory.Delete(dir, recursive: true);
    }

    private static unsafe void WaitGone(int pid, ulong start)
    {
        for (int i = 0; i < 400; i++)
        {
            int st;
            WaitPid(pid, &st, WNOHANG); // reaps it when it is our own child (in-process callers)
            if (!ContainerRecord.IsAlive(pid, start)) return;
            Thread.Sleep(5);
        }
    }

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
    public unsafe Launched Launch(string id, string bundleDir, bool detached, Rootfs.OverlayLayers? overlay)
    {
        Bundle.ValidateId(id);
        var bundle = Bundle.Load(bundleDir);
        foreach (var w in bundle.Warnings) _o.Warn?.Invoke(w);
        var spec = bundle.Spec;
        var host = _o.Cgroups ?? CgroupHost.Current;
        using var compat = PrepareCompat(id, bundle);
        Directory.CreateDirectory(_root.Containers);
        var dir = Dir(id);
        if (overlay is not null)
        {
            if (Path.GetFullPath(bundleDir) != dir) throw new RtException($"container {id}: an image container's bundle is its state directory");
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
            cg = Cgroup.Create(host, CgroupPath.For(id, spec.Linux.CgroupsPath), spec.Linux.Resources, _o.Warn);
            if (CgroupView.Needed(spec)) config.CgroupSubpaths = CgroupView.Subpaths(host, cg);
            int[]? join = null;
            int devNull = -1;
            // The set-up plan, built once: the direct start runs it, or init builds it again from the same config.
            var plan = Setup.ContainerPlan.For(config);
            bool direct = _o.DirectStart && plan.CanRunDirect;
            try
            {
                if (direct)
                {
                    // The fast path: the clone child builds the container from a syscall script and execs the
                    // process itself; when this returns, the process runs (or the start failed and the child is gone).
                    join = CgroupJoin.Open(cg);
                    pid = Setup.DirectBackend.Start(plan, join, [_o.Stdin, _o.Stdout, _o.Stderr], flags);
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
                }
            }
            finally
            {
                CgroupJoin.Close(join);
                if (devNull >= 0) SysClose(devNull);
            }
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
