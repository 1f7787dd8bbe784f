using static Tinyo.Linux.Libc;
using static Tinyo.Rt.Processes.SyscallScript;

namespace Tinyo.Rt.Setup;

/// <summary>
/// Joins an existing namespace by its path (<c>linux.namespaces[].path</c>): network namespaces prepared by podman,
/// CNI or a cluster network, and mount, ipc, uts, cgroup ones. A launch step: the clone child runs it first, in both
/// back-ends, so even the init back-end's child joins a mount namespace (which a multithreaded init could not).
/// The parent opens the path (<see cref="Open"/>) before the child exists; the child setns()es with that fd.
/// </summary>
internal sealed class JoinNamespaceStep(string type, string path, int flag) : SetupStep, IRowStep
{
    /// <summary>The OCI namespace type ("network", "mount", …).</summary>
    public string Type => type;
    /// <summary>The namespace file.</summary>
    public string Path => path;
    /// <summary>The CLONE_NEW* flag setns checks the file against.</summary>
    public int Flag => flag;
    /// <summary>The parent's fd of <see cref="Path"/> once opened; -1 before.</summary>
    public int Fd { get; private set; } = -1;

    public override string Name => $"join {type} namespace {path}";

    /// <summary>Opens the namespace file in the parent (close it with <see cref="Close"/>).</summary>
    public int Open()
    {
        if (Fd >= 0) return Fd;
        int fd = SysOpen(path, OFlag.RdOnly | OFlag.Cloexec, 0);
        if (fd < 0) throw Error("opening namespace", path);
        return Fd = fd;
    }

    /// <summary>Closes the parent's fd.</summary>
    public void Close()
    {
        if (Fd >= 0) SysClose(Fd);
        Fd = -1;
    }

    public void Emit(RowContext ctx)
    {
        int fd = ctx.Moved.TryGetValue(Fd, out var m) ? m : Fd;
        ctx.S.Add($"joining {type} namespace {path}", SYS_setns, fd, flag);
    }

    // Launch steps run as rows in both back-ends; init never applies them.
    public override void Apply(InitContext ctx) => throw new RtException($"{Name}: a launch step runs in the clone child");
}

/// <summary>unshare(CLONE_NEWCGROUP) once the child is inside its cgroup, which becomes the namespace's root.</summary>
internal sealed class UnshareCgroupStep : SetupStep, IRowStep
{
    public override string Name => "unshare cgroup namespace";
    public void Emit(RowContext ctx) => ctx.S.Add("unshare cgroup namespace", SYS_unshare, CLONE_NEWCGROUP);
    public override void Apply(InitContext ctx) => ctx.Calls.UnshareCgroup();
}

/// <summary>A new user namespace: the launcher creates it and writes the id maps in a handshake with the child
/// (<see cref="Processes.UserNamespace"/>); the child then execs init as the mapped root. Rows alone cannot wait for
/// the maps and then build the container, so the direct start declines it.</summary>
internal sealed class NewUserNamespaceStep : SetupStep
{
    public override string Name => "new user namespace";
    public override string Reason => "user namespace";
    public override void Apply(InitContext ctx) { } // done by the launcher before init runs
}
