using static Tinyo.Linux.Libc;
using static Tinyo.Rt.Processes.SyscallScript;

namespace Tinyo.Rt.Setup;

/// <summary>Init resolves the program in the container's PATH while still root (an absolute one is checked now, so
/// create fails in runc's words); the rows search PATH at exec time instead (<see cref="ExecStep"/>).</summary>
internal sealed class ResolveProgramStep(string name, List<string> env) : SetupStep, IRowStep
{
    public override string Name => "resolve " + name;
    public void Emit(RowContext ctx) { }
    public override void Apply(InitContext ctx) => ctx.Program = ctx.Calls.ResolveProgram(name, env);
}

/// <summary><c>process.terminal</c>: a pty of the container's devpts becomes the process's stdio and controlling
/// terminal, its master goes to the parent (init only: it needs the sync socket).</summary>
internal sealed class TerminalStep : SetupStep
{
    public override string Name => "terminal";

    public override void Apply(InitContext ctx)
    {
        if (ctx.Config.Terminal) ctx.Calls.SetUpTerminal(ctx.Config, ctx.SyncFd);
    }
}

/// <summary>Init answers ready and waits for the start signal. The direct start has nothing to wait for: the
/// parent's vfork resumes when the process has exec'd (create/start declines earlier, at the exec FIFO).</summary>
internal sealed class ReadyStep : SetupStep, IRowStep
{
    public override string Name => "ready, wait for start";
    public void Emit(RowContext ctx) { }
    public override void Apply(InitContext ctx) => ctx.Calls.ReadyAndWait(ctx.Config, ctx.SyncFd, ctx.FifoFd);
}

/// <summary>startContainer hooks, right before exec (init only).</summary>
internal sealed class StartContainerHooksStep : SetupStep
{
    public override string Name => "startContainer hooks";
    public override string Reason => "hooks";
    public override void Apply(InitContext ctx) => ctx.Calls.RunStartContainerHooks(ctx.Config);
}

/// <summary>
/// Signals as the program expects them. Rows: the clone child starts with every signal blocked (and, for a container,
/// every handler already reset by <see cref="DirectBackend"/>): SIGPIPE back to default when asked (.NET ignores it,
/// and an exec'd command must not inherit that), then the mask lifted. Init: ignored signals back to default (they
/// would stay ignored across execve); its mask was cleared when it started.
/// </summary>
internal sealed class SignalsStep(bool resetSigpipe) : SetupStep, IRowStep
{
    public override string Name => "signals to default";

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        if (resetSigpipe) s.Add("resetting SIGPIPE", SYS_rt_sigaction, SIGPIPE, (long)s.Block(32), 0, 8);
        s.Add("unblocking signals", SYS_rt_sigprocmask, SIG_SETMASK, (long)s.Block(8), 0, 8);
    }

    public override void Apply(InitContext ctx) => ctx.Calls.ResetIgnoredSignals();
}

/// <summary>
/// The program's execve. With <paramref name="resolved"/> (exec: the parent resolved it inside the container) one
/// row; otherwise searched in the container's PATH as execvp(3) would, one execve per candidate, a missing or
/// non-executable one moving on to the next directory.
/// </summary>
internal sealed class ExecStep(List<string> args, List<string> env, string? resolved = null) : SetupStep, IRowStep
{
    private const int EACCES = 13;

    public override string Name => "exec " + (resolved ?? args[0]);

    /// <summary>The container's PATH (or the default one).</summary>
    public static string PathOf(List<string>? env)
    {
        string pathVar = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var e in env ?? []) if (e.StartsWith("PATH=", StringComparison.Ordinal)) pathVar = e[5..];
        return pathVar;
    }

    /// <summary>The message of a failed search (the last row's ENOENT), in the words Docker maps to exit 127.</summary>
    public string? Describe(int errno) => errno == Errno_.ENOENT && resolved is null && !args[0].Contains('/')
        ? $"executable \"{args[0]}\" not found in PATH {PathOf(env)}: executable file not found" : null;

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        var name = resolved ?? args[0];
        long argv = s.Strings(args), envp = s.Strings(env);
        if (name.Contains('/'))
        {
            s.Add("exec " + name, SYS_execve, s.Str(name), argv, envp);
            return;
        }
        var dirs = PathOf(env).Split(':', StringSplitOptions.RemoveEmptyEntries);
        if (dirs.Length == 0) dirs = ["."];
        for (int i = 0; i < dirs.Length; i++)
        {
            var cand = dirs[i].TrimEnd('/') + "/" + name;
            bool lastCand = i == dirs.Length - 1;
            s.Add("exec " + cand, SYS_execve, s.Str(cand), argv, envp,
                ok: lastCand ? 0 : Ok(Errno_.ENOENT) | Ok(EACCES) | Ok(Errno_.ENOTDIR));
        }
    }

    public override void Apply(InitContext ctx) => ctx.Calls.Exec(ctx.Program ?? resolved ?? args[0], args, env);
}
