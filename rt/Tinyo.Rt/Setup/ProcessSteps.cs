using Tinyo.Rt.Oci;
using Tinyo.Rt.Security;
using static Tinyo.Linux.Libc;
using static Tinyo.Rt.Processes.SyscallScript;

namespace Tinyo.Rt.Setup;

/// <summary>umask(2): 0 while building the container (modes as given), the user's before exec.</summary>
internal sealed class UmaskStep(int mask) : SetupStep, IRowStep
{
    public override string Name => "umask " + Convert.ToString(mask, 8);
    public void Emit(RowContext ctx) => ctx.S.Add("umask", SYS_umask, mask);
    public override void Apply(InitContext ctx) => ctx.Calls.Umask(mask);
}

/// <summary>create/start: the exec FIFO is opened before pivot_root hides the state directory; init waits on it.
/// The direct start execs the program at once, so such containers take the init path.</summary>
internal sealed class OpenExecFifoStep : SetupStep
{
    public override string Name => "open the exec FIFO";
    public override string Reason => "waits for start";
    public override void Apply(InitContext ctx) => ctx.FifoFd = ctx.Calls.OpenExecFifo(ctx.Config, ctx.SyncFd);
}

/// <summary>Not dumpable: other processes in the container cannot ptrace the set-up or open its /proc files.</summary>
internal sealed class NotDumpableStep : SetupStep, IRowStep
{
    public override string Name => "not dumpable";
    public void Emit(RowContext ctx) => ctx.S.Add("prctl(PR_SET_DUMPABLE)", SYS_prctl, PR_SET_DUMPABLE, 0);
    public override void Apply(InitContext ctx) => ctx.Calls.SetNotDumpable();
}

/// <summary>A session of its own.</summary>
internal sealed class SetsidStep : SetupStep, IRowStep
{
    public override string Name => "setsid";
    public void Emit(RowContext ctx) => ctx.S.Add("setsid", SYS_setsid);
    public override void Apply(InitContext ctx) => ctx.Calls.Setsid();
}

/// <summary><c>process.rlimits</c>.</summary>
internal sealed unsafe class RlimitsStep(List<SpecRlimit> limits) : SetupStep, IRowStep
{
    public override string Name => "rlimits " + string.Join(',', limits.Select(l => l.Type));

    public void Emit(RowContext ctx)
    {
        foreach (var r in limits)
        {
            var lim = (ulong*)ctx.S.Block(16);
            lim[0] = r.Soft; lim[1] = r.Hard;
            ctx.S.Add($"setrlimit {r.Type} soft={r.Soft} hard={r.Hard}", SYS_prlimit64, 0, Rlimits.Number(r.Type), (long)lim, 0);
        }
    }

    public override void Apply(InitContext ctx) => ctx.Calls.SetRlimits(limits);
}

/// <summary>The working directory, created when missing, entered inside the container's root (after pivot_root).</summary>
internal sealed class CwdStep(string cwd) : SetupStep, IRowStep
{
    public override string Name => "cwd " + cwd;

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        var parts = cwd.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < parts.Length; i++)
            s.Add($"creating cwd {cwd}", SYS_mkdirat, AT_FDCWD_, s.Str("/" + string.Join('/', parts, 0, i + 1)), 0x1ED, ok: Ok(Errno_.EEXIST));
        s.Add("chdir " + cwd, SYS_chdir, s.Str(cwd));
    }

    public override void Apply(InitContext ctx) => ctx.Calls.EnterCwd(cwd);
}

/// <summary>Every descriptor above stdio close-on-exec: nothing of the runtime reaches the process.</summary>
internal sealed class CloseOnExecStep : SetupStep, IRowStep
{
    public override string Name => "close-on-exec above 2";
    public void Emit(RowContext ctx) => ctx.S.Add("close_range", SYS_close_range, 3, uint.MaxValue, CLOSE_RANGE_CLOEXEC);
    public override void Apply(InitContext ctx) => ctx.Calls.CloseOnExec();
}
