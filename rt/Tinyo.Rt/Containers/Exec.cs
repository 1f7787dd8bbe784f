using System.Runtime.InteropServices;
using System.Text;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Processes;
using Tinyo.Rt.Security;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Containers;

/// <summary>What <c>tinyort exec</c> runs: a command, optional extra env and working directory.</summary>
public sealed class ExecOptions
{
    /// <summary>The command and its arguments.</summary>
    public List<string> Command { get; set; } = [];
    /// <summary>Extra <c>KEY=VALUE</c> variables over the container's environment.</summary>
    public List<string> Env { get; set; } = [];
    /// <summary>Working directory (default: the container's).</summary>
    public string? WorkingDir { get; set; }
    /// <summary>A descriptor of this process that becomes the command's stdin; -1 (default): our own stdin.</summary>
    public int Stdin { get; set; } = -1;
    /// <summary>Like <see cref="Stdin"/>, for stdout (a daemon captures the output through a pipe).</summary>
    public int Stdout { get; set; } = -1;
    /// <summary>Like <see cref="Stdin"/>, for stderr.</summary>
    public int Stderr { get; set; } = -1;
    /// <summary><c>-u USER[:GROUP]</c>, names or numbers resolved in the container's /etc/passwd and /etc/group
    /// (default: the container's process user). A non-root user gets no capabilities, as docker's exec.</summary>
    public string? User { get; set; }
    /// <summary><c>-t</c>: run the command on a new pty of the container's devpts; the master is handed to
    /// <see cref="OnTerminal"/>, which then owns it.</summary>
    public bool Tty { get; set; }
    /// <summary>Receives the pty master when <see cref="Tty"/> is set.</summary>
    public Action<int>? OnTerminal { get; set; }
    /// <summary><see cref="Env"/> replaces the container's environment instead of extending it (runc's
    /// <c>exec --process</c>).</summary>
    public bool ReplaceEnv { get; set; }
    /// <summary>runc's <c>--console-socket</c>: the pty master of a <see cref="Tty"/> exec goes there instead of to
    /// <see cref="OnTerminal"/>.</summary>
    public string? ConsoleSocket { get; set; }
    /// <summary>Numeric user and groups (runc's <c>exec --process</c>); <see cref="User"/> wins when both are set.</summary>
    public SpecUser? UserIds { get; set; }
}

/// <summary>
/// Runs a process inside a running container: its namespaces, cgroup, user, capabilities, rlimits, env and cwd.
/// </summary>
/// <remarks>
/// <para><b>Process model.</b> Like runc's nsexec, without a C constructor. A pid namespace cannot be entered by the
/// caller itself: <c>setns(CLONE_NEWPID)</c> only sets the namespace of the caller's future children. And a mount
/// namespace cannot be entered by a multithreaded process at all (the threads share one fs_struct: EINVAL). So:
/// (1) a dedicated thread of this process calls <c>setns(pidfd, CLONE_NEWPID)</c> — that changes only the thread's
/// own <c>pid_ns_for_children</c> — and clones the child with the <see cref="SyscallScript"/> trampoline
/// (<c>CLONE_VM|CLONE_VFORK</c>, no managed code), which therefore is born inside the container's pid namespace;
/// the thread then setns()es back to our own pid namespace before it does anything else, so no thread of ours is
/// ever created in the wrong one. (2) The child, a single-threaded task with its own fs_struct, runs a table of raw
/// syscalls: join the cgroup (write "0" to each v1 <c>tasks</c> file, or v2's <c>cgroup.procs</c>, opened by the
/// parent: see <see cref="CgroupJoin"/>), <c>setns(pidfd,
/// MNT|UTS|IPC|NET|CGROUP)</c> (the mount namespace brings the container's root), chdir, rlimits, bounding set,
/// groups, gid, uid, capabilities, no_new_privs, default SIGPIPE and signal mask, close-on-exec of every fd above 2,
/// seccomp, execve. The binary path is resolved by the parent through <c>/proc/PID/root</c> with
/// <c>openat2(RESOLVE_IN_ROOT)</c>, so the container's symlinks are interpreted inside it.</para>
/// <para>The container's seccomp filter is loaded last before execve (before the capability drop when no_new_privs
/// is off). Not applied: AppArmor/SELinux labels. A failure
/// inside the table ends the child with the errno as exit status; the parent checks the cwd and the executable
/// beforehand so that this is rare.</para>
/// </remarks>
public static unsafe class Exec
{
    private static readonly (string Type, int Flag)[] Joinable =
    [
        // user first in spirit: setns(pidfd) with several flags enters the user namespace before the others, so a
        // container's exec runs as its mapped ids (without it, as the host's root inside the container's mounts).
        ("user", CLONE_NEWUSER), ("mnt", CLONE_NEWNS), ("uts", CLONE_NEWUTS), ("ipc", CLONE_NEWIPC), ("net", CLONE_NEWNET), ("cgroup", CLONE_NEWCGROUP),
    ];

    /// <summary>Starts <paramref name="o"/> in container <paramref name="id"/>; returns the host pid (a child of
    /// this process, to wait for with <see cref="Wait"/>).</summary>
    public static int Start(RuntimeRoot root, string id, ExecOptions o)
    {
        Bundle.ValidateId(id);
        var dir = Path.Combine(root.Containers, id);
        var rec = ContainerRecord.Load(dir, id);
        if (rec.Status(dir) != "running") throw new RtException($"container {id} is not running");
        if (o.Command.Count == 0 || string.IsNullOrEmpty(o.Command[0])) throw new RtException("exec: no command given");
        // Loaded (validated, seccomp compiled) as create did: the exec'd process gets the container's filter.
        var bundle = Bundle.Load(rec.Bundle);
        var spec = bundle.Spec;
        var p = spec.Process!;
        var env = o.ReplaceEnv ? new List<string>() : new List<string>(p.Env ?? []);
        foreach (var e in o.Env)
        {
            int eq = e.IndexOf('=');
            if (eq <= 0 || e.Contains('\0')) throw new RtException($"invalid environment variable \"{e}\": expected KEY=VALUE");
            env.RemoveAll(x => x.StartsWith(e[..(eq + 1)], StringComparison.Ordinal));
            env.Add(e);
        }
        var cwd = o.WorkingDir ?? p.Cwd ?? "/";
        if (!cwd.StartsWith('/')) throw new RtException($"exec: working directory \"{cwd}\" is not absolute");
        foreach (var a in o.Command) if (a.Contains('\0')) throw new RtException("exec: arguments must not contain NUL bytes");

        int pidfd = PidfdOpen(rec.Pid);
        if (pidfd < 0) throw Error($"pidfd_open of container {id}");
        var fds = new List<int> { pidfd };
        int mastersToHandOff = -1;
        if (o.ConsoleSocket is not null)
        {
            if (!o.Tty) { SysClose(pidfd); throw new RtException("--console-socket needs a terminal process (--tty or process.terminal)"); }
            int cs;
            try { cs = Terminal.ConnectConsoleSocket(o.ConsoleSocket); }
            catch { SysClose(pidfd); throw; }
            fds.Add(cs);
            o.OnTerminal = m =>
            {
                try { Terminal.SendMaster(cs, m); }
                finally { SysClose(m); }
            };
        }
        try
        {
            // The pid is the one we checked, not a recycled one: check again now that the pidfd pins it.
            if (!ContainerRecord.IsAlive(rec.Pid, rec.PidStartTime)) throw new RtException($"container {id} is not running");
            var path = ResolveInside(rec.Pid, o.Command[0], env, cwd, out int cwdFd);
            fds.Add(cwdFd);
            var u = o.UserIds ?? p.User ?? new SpecUser();
            if (o.User is { } userSpec)
            {
                var (uid, gid, extra, _) = UserDb.ResolveWithHome(userSpec, ["/proc/" + rec.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture) + "/root"]);
                u = new SpecUser { Uid = uid, Gid = gid, AdditionalGids = extra, Umask = u.Umask };
            }
            int slave = -1;
            if (o.Tty)
            {
                slave = ExecTerminal.Open(rec.Pid, u.Uid, out int master);
                fds.Add(slave);
                fds.Add(master);
                mastersToHandOff = master;
            }
            int nsFlags = 0;
            foreach (var (type, flag) in Joinable)
                if (NsId("/proc/self/ns/" + type) != NsId($"/proc/{rec.Pid}/ns/{type}")) nsFlags |= flag;
            bool newPid = NsId("/proc/self/ns/pid") != NsId($"/proc/{rec.Pid}/ns/pid");

            var cgroupJoin = CgroupJoin.Open(Cgroups.Cgroup.Open(rec.CgroupDirs, rec.CgroupV2));
            fds.AddRange(cgroupJoin);
            // The container's cluster directory too (Cgroups.ClusterCgroup): its sockets are the cluster's. Joined by
            // a write to cgroup.procs (an exec is not on the start's hot path; clone3 is kept for the start).
            if (rec.Annotations?.GetValueOrDefault(Cgroups.ClusterCgroup.Annotation) is { Length: > 0 } clusterDir)
            {
                int cfd = SysOpen(Path.Combine(clusterDir, "cgroup.procs"), OFlag.WrOnly | OFlag.Cloexec, 0);
                if (cfd < 0) throw Error("opening the container's cluster cgroup", clusterDir);
                fds.Add(cfd);
                cgroupJoin = [.. cgroupJoin, cfd];
            }
            // The same step types as a container's start (Setup/), in exec's order, run as rows by the trampoline in
            // a child born in the container's pid namespace.
            var plan = Setup.ExecPlan.For(new Setup.ExecRequest
            {
                Process = p, User = u, Args = o.Command, Program = path, Env = env, CgroupJoin = cgroupJoin,
                Pidfd = pidfd, NamespaceFlags = nsFlags, CwdFd = cwdFd, Cwd = cwd, TerminalSlave = slave,
                Stdio = (o.Stdin, o.Stdout, o.Stderr), Seccomp = bundle.Seccomp?.Program, SeccompFlags = bundle.Seccomp?.Flags ?? 0,
            });
            int pid = Setup.DirectBackend.RunExec(plan, newPid ? pidfd : -1);
            if (mastersToHandOff >= 0 && o.OnTerminal is { } take)
            {
                fds.Remove(mastersToHandOff); // the caller owns it now
                take(mastersToHandOff);
            }
            return pid;
        }
        finally
        {
            foreach (var fd in fds) SysClose(fd);
        }
    }

    /// <summary>Waits for an exec'd process; returns its exit code (128 + signal when killed).</summary>
    public static int Wait(int pid)
    {
        int st = 0;
        while (WaitPid(pid, &st, 0) < 0)
            if (Errno != Errno_.EINTR) throw Error("waitpid");
        return DecodeWaitStatus(st).Code;
    }

    /// <summary>Sends a signal to an exec'd process (errors ignored: it may have ended).</summary>
    public static void Signal(int pid, int signal) => Kill(pid, signal);

    private static string NsId(string link)
    {
        try { return new FileInfo(link).LinkTarget ?? ""; }
        catch (IOException) { return ""; }
    }

    /// <summary>Resolves the command as the container would (its PATH), inside its root, and opens the cwd there
    /// (<paramref name="cwdFd"/>, O_PATH, for the child's fchdir; the caller closes it).</summary>
    private static string ResolveInside(int pid, string name, List<string> env, string cwd, out int cwdFd)
    {
        int root = SysOpen($"/proc/{pid}/root", OFlag.Path | OFlag.Directory | OFlag.Cloexec, 0);
        if (root < 0) throw Error("opening the container's root");
        try
        {
            int c = SysOpenAt2(root, cwd.TrimStart('/') is { Length: > 0 } cw ? cw : ".", OFlag.Path | OFlag.Directory | OFlag.Cloexec,
                Linux.Libc.Resolve.InRoot | Linux.Libc.Resolve.NoMagicLinks);
            if (c < 0) throw new RtException($"exec: working directory {cwd} does not exist in the container");
            cwdFd = c; // the child enters exactly this directory (fchdir)
            try { return ResolveCommand(root, name, env, cwd); }
            catch { SysClose(c); throw; }
        }
        finally { SysClose(root); }
    }

    private static string ResolveCommand(int root, string name, List<string> env, string cwd)
    {
        if (name.Contains('/'))
        {
            var abs = name.StartsWith('/') ? name : cwd.TrimEnd('/') + "/" + name;
            // runc's wording, which engines map to exit codes (Docker: 127 for a missing file, 126 for permission denied).
            if (!IsExecutable(root, abs, out bool exists))
                throw new RtException(exists ? $"exec: \"{name}\": permission denied" : $"exec: \"{name}\": no such file or directory in the container");
            return name;
        }
        string pathVar = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var e in env) if (e.StartsWith("PATH=", StringComparison.Ordinal)) pathVar = e[5..];
        foreach (var d in pathVar.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var cand = d.TrimEnd('/') + "/" + name;
            if (cand.StartsWith('/') && IsExecutable(root, cand, out _)) return cand;
        }
        throw new RtException($"exec: executable \"{name}\" not found in the container's PATH {pathVar}: executable file not found");
    }

    private static bool IsExecutable(int root, string path, out bool exists)
    {
        int fd = SysOpenAt2(root, path.TrimStart('/'), OFlag.Path | OFlag.Cloexec, Linux.Libc.Resolve.InRoot | Linux.Libc.Resolve.NoMagicLinks);
        exists = fd >= 0;
        if (fd < 0) return false;
        try
        {
            var proc = "/proc/self/fd/" + fd.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (Directory.Exists(proc)) return false;
            return SysAccess(proc, 1 /* X_OK: for root, any execute bit */) == 0;
        }
        catch (IOException) { return false; }
        finally { SysClose(fd); }
    }
}
