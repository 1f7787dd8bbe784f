using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Setup;

// Steps only an exec's plan has (an exec always runs as rows: Apply is never called for them).

/// <summary>
/// Moves the child into its cgroup by writing "0" to each fd (v1 <c>tasks</c> files, or v2's <c>cgroup.procs</c>,
/// opened by the parent: <see cref="Processes.CgroupJoin"/>): a task moving only itself skips the global
/// threadgroup lock a write of another pid takes. The first rows of every container start and exec.
/// </summary>
internal sealed class JoinCgroupStep(IReadOnlyList<int> fds) : SetupStep, IRowStep
{
    public override string Name => "join the cgroup";

    public void Emit(RowContext ctx)
    {
        long zero = ctx.S.Str("0");
        foreach (var fd in fds) ctx.S.Add("joining the container's cgroup", SYS_write, ctx.Moved.TryGetValue(fd, out var m) ? m : fd, zero, 1);
    }

    public override void Apply(InitContext ctx) => throw new RtException($"{Name}: runs as rows in the clone child");
}

/// <summary>setns(pidfd, MNT|UTS|IPC|NET|CGROUP|USER) into a running container's namespaces (the mount namespace
/// brings its root). The pid namespace is entered around the clone (<see cref="Processes.SyscallScript.Run"/>).</summary>
internal sealed class EnterNamespacesStep(int pidfd, int flags) : SetupStep, IRowStep
{
    public override string Name => "enter the container's namespaces 0x" + flags.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
    public void Emit(RowContext ctx) { if (flags != 0) ctx.S.Add("entering the container's namespaces", SYS_setns, pidfd, flags); }
    public override void Apply(InitContext ctx) => throw new RtException($"{Name}: runs as rows in the clone child");
}

/// <summary>The working directory by an fd checked inside the container's root, not by path: the container could swap
/// the directory for a symlink to <c>/proc/self/fd/N</c> (CVE-2024-21626 class).</summary>
internal sealed class ChdirFdStep(int fd, string cwd) : SetupStep, IRowStep
{
    public override string Name => "cwd " + cwd;
    public void Emit(RowContext ctx) => ctx.S.Add("chdir " + cwd, Processes.SyscallScript.SYS_fchdir, fd);
    public override void Apply(InitContext ctx) => throw new RtException($"{Name}: runs as rows in the clone child");
}

/// <summary>exec -t: a session of its own with the pty slave as stdio and controlling terminal.</summary>
internal sealed class ExecTerminalStep(int slave) : SetupStep, IRowStep
{
    public override string Name => "terminal";

    public void Emit(RowContext ctx)
    {
        ctx.S.Add("setsid", SYS_setsid);
        for (int i = 0; i < 3; i++) ctx.S.Add("setting up the terminal", SYS_dup3, slave, i, 0);
        ctx.S.Add("TIOCSCTTY", SYS_ioctl, 0, (long)TIOCSCTTY, 0);
    }

    public override void Apply(InitContext ctx) => throw new RtException($"{Name}: runs as rows in the clone child");
}

/// <summary>The caller's descriptors onto 0-2 (dup3 without flags: inherited across execve).</summary>
internal sealed class StdioStep(int stdin, int stdout, int stderr) : SetupStep, IRowStep
{
    public override string Name => "stdio";

    public void Emit(RowContext ctx)
    {
        foreach (var (fd, target) in (ReadOnlySpan<(int, int)>)[(stdin, 0), (stdout, 1), (stderr, 2)])
            if (fd >= 0 && fd != target) ctx.S.Add("setting up stdio", SYS_dup3, fd, target, 0);
    }

    public override void Apply(InitContext ctx) => throw new RtException($"{Name}: runs as rows in the clone child");
}
