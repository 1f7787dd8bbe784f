using Tinyo.Rt.Processes;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Setup;

/// <summary>
/// The direct back-end: the clone child runs the whole plan as one <see cref="SyscallScript"/> and execs the
/// container's process itself. It saves the second process start (the runtime binary exec'd as init, ≈ 2–5 ms) and
/// the configuration round trip. Chosen when <see cref="SetupPlan.CanRunDirect"/>.
/// </summary>
/// <remarks>
/// No runtime binary is exec'd into the container on this path, so there is no <c>/proc/PID/exe</c> of ours for the
/// container to reach (CVE-2019-5736 does not apply): the only image exec'd in the new namespaces is the container's
/// own program. The child shares the parent's memory until that execve (CLONE_VM|CLONE_VFORK), runs no managed code,
/// and has all signal handlers reset to default before it unblocks signals.
/// </remarks>
internal static class DirectBackend
{
    /// <summary>
    /// Clones the container's process and runs the plan; returns its host pid once it has exec'd. A failure of any
    /// step is thrown with what init would have said; the child is gone by then. With <paramref name="intoCgroup"/>
    /// ≥ 0 the child is born in that cgroup v2 directory (<see cref="Cgroups.ClusterCgroup"/>).
    /// </summary>
    public static int Start(SetupPlan plan, ReadOnlySpan<int> cgroupJoin, ReadOnlySpan<int> stdio, int cloneFlags, int intoCgroup = -1)
    {
        if (plan.DirectDecline is { } why) throw new RtException($"internal error: the direct start cannot run this container ({why})");
        using var s = new SyscallScript(rows: 384);
        int pidNs = -1;
        var high = new List<int>();
        // The clone child shares this process's memory until it execs (CLONE_VM): its prctl(PR_SET_MEMORY_MERGE)
        // marks *this* process's mm, and every process it starts afterwards would inherit merge-any (the flag survives
        // fork and exec). The child's new mm copied the flag at exec; this process takes it off again — once no other
        // merging start of this process is between its prctl and its exec (clones made in parallel), or that one's
        // exec would miss the flag.
        bool merging = plan.Steps.Any(st => st is MemoryMergeStep);
        if (merging) MergeStarts.Enter();
        try
        {
            Write(plan, s, cgroupJoin, stdio, high);
            if (plan.PidNamespacePath is { } pidPath)
            {
                pidNs = SysOpen(pidPath, OFlag.RdOnly | OFlag.Cloexec, 0);
                if (pidNs < 0) throw Error("opening namespace", pidPath);
            }
            var exec = (ExecStep)plan.Steps[^1];
            StartTrace.Mark("syscall script written");
            int pid = s.Run(cloneFlags, exec.Describe, pidNs, intoCgroup: intoCgroup);
            StartTrace.Mark("exec (vfork released)");
            return pid;
        }
        finally
        {
            if (merging) MergeStarts.Leave();
            foreach (var fd in high) SysClose(fd);
            foreach (var step in plan.Launch) (step as JoinNamespaceStep)?.Close();
            if (pidNs >= 0) SysClose(pidNs);
        }
    }

    /// <summary>
    /// Writes the plan's rows into <paramref name="s"/>: the prologue (fds moved to planned numbers above every fd of
    /// the parent and the rest closed, the cgroup joined, every signal handler reset while signals are still
    /// blocked), then each step's rows. <paramref name="high"/> receives the parent's temporary fds to close.
    /// </summary>
    public static void Write(SetupPlan plan, SyscallScript s, ReadOnlySpan<int> cgroupJoin, ReadOnlySpan<int> stdio, List<int> high)
    {
        var keep = new List<int>(cgroupJoin.ToArray());
        foreach (var step in plan.Launch)
            if (step is JoinNamespaceStep j) keep.Add(j.Open());
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
        var ctx = new RowContext { S = s };
        bool trace = StartTrace.Current is not null;
        if (trace) StartTrace.ChildMark(s, "clone (new namespaces)");
        for (int i = 0; i < 3; i++) s.Add("setting up stdio", SYS_dup3, hi[i], i, 0);
        for (int i = 0; i < keep.Count; i++)
        {
            s.Add("setting up descriptors", SYS_dup3, keep[i], baseFd + i, RootfsRows.OCloexec);
            ctx.Moved[keep[i]] = baseFd + i;
        }
        s.Add("closing descriptors", SYS_close_range, 3, baseFd - 1, 0);
        s.Add("closing descriptors", SYS_close_range, baseFd + keep.Count, uint.MaxValue, 0);
        s.Adopt(0); s.Adopt(1); s.Adopt(2);
        for (int i = 0; i < keep.Count; i++) s.Adopt(baseFd + i);
        if (trace) StartTrace.ChildMark(s, "descriptors");

        // Join the cgroup first (see CgroupJoin), so everything below is accounted.
        new JoinCgroupStep(cgroupJoin.ToArray()).Emit(ctx);
        if (trace) StartTrace.ChildMark(s, "join cgroup");
        // Every handler back to default while signals are still blocked (the parent's .NET handlers must never
        // run here); the mask is lifted just before execve (SignalsStep). Ignored signals become default too.
        long dfl = (long)s.Block(32);
        for (int sig = 1; sig <= 64; sig++)
            if (sig is not (SIGKILL or 19)) s.Add("resetting signal handlers", SYS_rt_sigaction, sig, dfl, 0, 8);
        if (trace) StartTrace.ChildMark(s, "signal handlers");

        foreach (var step in plan.Launch)
        {
            ((IRowStep)step).Emit(ctx);
            if (trace) StartTrace.ChildMark(s, StartTrace.Label(step));
        }
        foreach (var step in plan.Steps)
        {
            ((IRowStep)step).Emit(ctx);
            // The exec's end is marked by the parent, when the vfork child's execve releases it.
            if (trace && step is not ExecStep) StartTrace.ChildMark(s, StartTrace.Label(step));
        }
    }

    /// <summary>
    /// Holds this process's merge-any flag for a series of merging starts (a duplication request's clones), so it is
    /// taken off once after the last of them rather than after each: taking it off walks every mapping of this
    /// process to unmerge it (≈ 1 ms for the runtime's own memory, measured: strace of <c>prctl(PR_SET_MEMORY_MERGE,
    /// 0)</c> after a clone's exec), and setting it again in the next clone's child is cheap (≈ 0.03 ms). Dispose
    /// after the series; nested and concurrent holders are counted.
    /// </summary>
    public static IDisposable MergeScope() => new MergeHold();

    private sealed class MergeHold : IDisposable
    {
        private int _held = 1;
        public MergeHold() => MergeStarts.Enter();
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _held, 0) == 1) MergeStarts.Leave();
        }
    }

    /// <summary>The merging starts under way in this process: the first one notes whether this process itself merges
    /// (then nothing is ever taken off), the last one out takes the flag its children set off this process again.</summary>
    private static class MergeStarts
    {
        private static readonly Lock s_lock = new();
        private static int s_running;
        private static bool s_clear;

        public static void Enter()
        {
            lock (s_lock)
                if (s_running++ == 0) s_clear = Prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) == 0;
        }

        public static void Leave()
        {
            lock (s_lock)
                if (--s_running == 0 && s_clear) Prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0);
        }
    }

    /// <summary>Runs an exec's plan (no fd plan: its rows use the parent's fd numbers) in a child born in
    /// <paramref name="pidNsFd"/>'s pid namespace when that is not -1.</summary>
    public static int RunExec(SetupPlan plan, int pidNsFd)
    {
        using var s = new SyscallScript();
        var ctx = new RowContext { S = s };
        foreach (var step in plan.Steps) ((IRowStep)step).Emit(ctx);
        return s.Run(0, null, pidNsFd);
    }
}
