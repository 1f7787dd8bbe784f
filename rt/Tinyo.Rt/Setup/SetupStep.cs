using Tinyo.Rt.Containers;
using Tinyo.Rt.Processes;

namespace Tinyo.Rt.Setup;

/// <summary>
/// One step of a container's (or an exec'd process's) set-up: mount this, join that namespace, drop those
/// capabilities. A step knows how the init back-end runs it (<see cref="Apply"/>, through <see cref="ISetupCalls"/>);
/// a step that the direct back-end can also run implements <see cref="IRowStep"/> and writes its syscall rows.
/// A step without rows makes the whole plan take the init path, with <see cref="Reason"/> as the reason: that is the
/// only way a container is declined the direct start, so a new step cannot silently be skipped by one back-end.
/// </summary>
internal abstract class SetupStep
{
    /// <summary>What the step does, with its argument ("mount tmpfs on /dev"): the plan's listing and tests.</summary>
    public abstract string Name { get; }

    /// <summary>Why the direct start cannot run this step (the decline reason when the step has no rows).</summary>
    public virtual string Reason => Name;

    /// <summary>Runs the step in init, which is the container's pid 1 in its namespaces (the init back-end).</summary>
    public abstract void Apply(InitContext ctx);

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>A step the direct back-end runs as raw syscall rows in the clone child (<see cref="SyscallScript"/>).</summary>
internal interface IRowStep
{
    /// <summary>Why this particular step still cannot be done with rows (for example a masked path outside /proc
    /// and /sys, whose kind only init can see), or null.</summary>
    string? DirectDecline => null;

    /// <summary>Appends the step's rows.</summary>
    void Emit(RowContext ctx);
}

/// <summary>State the init back-end carries from step to step.</summary>
internal sealed class InitContext
{
    /// <summary>The configuration the parent sent.</summary>
    public required InitConfig Config { get; init; }
    /// <summary>The calls that change the system (a recording fake in tests).</summary>
    public required ISetupCalls Calls { get; init; }
    /// <summary>The sync socket to the parent (-1 in tests).</summary>
    public int SyncFd { get; init; } = -1;
    /// <summary>O_PATH fd of the rootfs between the rootfs mount and pivot_root.</summary>
    public int Root { get; set; } = -1;
    /// <summary>The exec FIFO, opened before pivot_root hides the state directory (create/start).</summary>
    public int FifoFd { get; set; } = -1;
    /// <summary>The program, resolved before the credentials change.</summary>
    public string? Program { get; set; }
}

/// <summary>State the direct back-end carries while it writes rows.</summary>
internal sealed class RowContext
{
    /// <summary>The script being written.</summary>
    public required SyscallScript S { get; init; }
    /// <summary>The container's configuration (null for exec plans).</summary>
    public InitConfig? Config { get; init; }
    /// <summary>Planned fd of the rootfs between the rootfs mount and pivot_root.</summary>
    public int Root { get; set; } = -1;
    /// <summary>Where each fd the parent passed (a namespace to join) lives in the child.</summary>
    public Dictionary<int, int> Moved { get; } = [];
}
