using Tinyo.Rt.Oci;
using Tinyo.Rt.Security;

namespace Tinyo.Rt.Setup;

/// <summary>What an exec'd process needs to become one of the container's: the plan <see cref="Containers.Exec"/>
/// runs as rows, built from the same step types as a container's.</summary>
internal sealed class ExecRequest
{
    /// <summary>The container's process section (capabilities, rlimits, no_new_privs).</summary>
    public required SpecProcess Process { get; init; }
    /// <summary>The user to run as.</summary>
    public required SpecUser User { get; init; }
    /// <summary>The command, its resolved path inside the container, and its environment.</summary>
    public required List<string> Args { get; init; }
    /// <summary>The path of <see cref="Args"/>[0] resolved inside the container.</summary>
    public required string Program { get; init; }
    /// <summary>The environment.</summary>
    public required List<string> Env { get; init; }
    /// <summary>Cgroup files to write "0" to.</summary>
    public IReadOnlyList<int> CgroupJoin { get; init; } = [];
    /// <summary>pidfd of the container's process, and the namespaces to enter through it.</summary>
    public int Pidfd { get; init; } = -1;
    /// <summary>CLONE_NEW* flags of the namespaces that differ from ours.</summary>
    public int NamespaceFlags { get; init; }
    /// <summary>O_PATH fd of the working directory, and its path (for messages).</summary>
    public int CwdFd { get; init; } = -1;
    /// <summary>The working directory's path.</summary>
    public string Cwd { get; init; } = "/";
    /// <summary>A pty slave for exec -t, or -1.</summary>
    public int TerminalSlave { get; init; } = -1;
    /// <summary>Descriptors for 0-2 (-1: keep ours).</summary>
    public (int In, int Out, int Err) Stdio { get; init; } = (-1, -1, -1);
    /// <summary>The container's compiled seccomp filter, or null.</summary>
    public byte[]? Seccomp { get; init; }
    /// <summary>seccomp(2) flags.</summary>
    public uint SeccompFlags { get; init; }
}

/// <summary>Builds an exec's <see cref="SetupPlan"/>.</summary>
internal static class ExecPlan
{
    /// <summary>The plan of <paramref name="r"/>, in the order the exec's rows run.</summary>
    public static SetupPlan For(ExecRequest r)
    {
        var plan = new SetupPlan();
        var s = plan.Steps;
        var p = r.Process;
        if (r.CgroupJoin.Count > 0) s.Add(new JoinCgroupStep(r.CgroupJoin));
        if (r.TerminalSlave >= 0) s.Add(new ExecTerminalStep(r.TerminalSlave));
        s.Add(new EnterNamespacesStep(r.Pidfd, r.NamespaceFlags));
        s.Add(new ChdirFdStep(r.CwdFd, r.Cwd));
        if (p.Rlimits is { Count: > 0 } rl) s.Add(new RlimitsStep(rl));
        var caps = CapabilitySets.FromSpec(p.Capabilities);
        s.Add(new BoundingSetStep(caps));
        bool seccomp = r.Seccomp is { Length: > 0 };
        if (seccomp && !p.NoNewPrivileges) s.Add(new SeccompStep(r.Seccomp!, r.SeccompFlags, late: false));
        s.Add(new IdsStep(r.User, keepCaps: false));
        // Root keeps its capabilities across setresuid: narrow them to the container's (never more than ours).
        if (r.User.Uid == 0) s.Add(new CapabilitiesStep(caps, forExec: true));
        if (p.NoNewPrivileges) s.Add(new NoNewPrivsStep());
        s.Add(new StdioStep(r.Stdio.In, r.Stdio.Out, r.Stdio.Err));
        s.Add(new CloseOnExecStep());
        s.Add(new SignalsStep(resetSigpipe: true));
        if (seccomp && p.NoNewPrivileges) s.Add(new SeccompStep(r.Seccomp!, r.SeccompFlags, late: true));
        s.Add(new ExecStep(r.Args, r.Env, r.Program));
        return plan;
    }
}
