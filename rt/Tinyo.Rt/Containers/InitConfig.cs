using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Containers;

/// <summary>
/// What the parent sends the container's init over their socketpair: the validated spec and the host facts init
/// needs (init runs inside the new namespaces and must not re-derive them from a bundle it could be tricked about).
/// </summary>
public sealed class InitConfig
{
    /// <summary>Container id.</summary>
    public string Id { get; set; } = "";
    /// <summary>The validated spec (bind sources absolute, defaults filled in).</summary>
    public Spec Spec { get; set; } = new();
    /// <summary>Absolute host path of the root filesystem.</summary>
    public string Rootfs { get; set; } = "";
    /// <summary>When set, init waits for <c>start</c> on this FIFO (create); otherwise for the parent's go (run).</summary>
    public string? ExecFifo { get; set; }
    /// <summary>Host cgroup v1 hierarchies (mount super options such as <c>cpu,cpuacct</c>) for a <c>cgroup</c> mount.</summary>
    public List<string> CgroupV1Hierarchies { get; set; } = [];
    /// <summary>For a container without its own cgroup namespace: per hierarchy (as <see cref="CgroupV1Hierarchies"/>,
    /// or one on a unified host) the directory its <c>cgroup</c> mount shows, relative to the hierarchy's root
    /// (<see cref="Cgroups.CgroupView"/>). Empty: the mounts show what the namespace shows.</summary>
    public List<string> CgroupSubpaths { get; set; } = [];
    /// <summary>Whether the host's cgroup hierarchy is the unified (v2) one.</summary>
    public bool CgroupV2 { get; set; }
    /// <summary>Image containers: the unpacked layer directories, top layer first. When set, init mounts an overlay
    /// of them (with <see cref="OverlayUpper"/> and <see cref="OverlayWork"/>) on <see cref="Rootfs"/> inside the
    /// container's mount namespace, so the mount vanishes with the container.</summary>
    public List<string>? OverlayLower { get; set; }
    /// <summary>The overlay's upper (writable) directory; see <see cref="OverlayLower"/>.</summary>
    public string? OverlayUpper { get; set; }
    /// <summary>The overlay's work directory (same filesystem as the upper one).</summary>
    public string? OverlayWork { get; set; }
    /// <summary>Init only, not sent: in a user namespace, the overlay mount the parent built and passed over the
    /// sync socket (attached instead of mounting <see cref="OverlayLower"/>); -1 when none.</summary>
    public int OverlayMountFd { get; set; } = -1;
    /// <summary>The compiled seccomp filter (<c>struct sock_filter</c> records), or null for none. Compiled by the
    /// parent: init only loads it.</summary>
    public byte[]? SeccompProgram { get; set; }
    /// <summary>seccomp(2) flags for <see cref="SeccompProgram"/>.</summary>
    public uint SeccompFlags { get; set; }
    /// <summary><c>process.terminal</c>: init allocates a pty in the container's devpts, makes its slave the process's
    /// stdio and controlling terminal and hands the master to the parent (<see cref="Terminal"/>).</summary>
    public bool Terminal { get; set; }
    /// <summary><c>process.consoleSize</c> rows (0: leave the pty's default).</summary>
    public ushort ConsoleRows { get; set; }
    /// <summary><c>process.consoleSize</c> columns.</summary>
    public ushort ConsoleCols { get; set; }
    /// <summary>Init pauses before pivot_root (message <c>H</c>, answer <c>h</c>) so the parent can run the
    /// prestart and createRuntime hooks.</summary>
    public bool PauseBeforePivot { get; set; }
    /// <summary>createContainer hooks, run by init before pivot_root.</summary>
    public List<SpecHook>? CreateContainerHooks { get; set; }
    /// <summary>startContainer hooks, run by init right before exec.</summary>
    public List<SpecHook>? StartContainerHooks { get; set; }
    /// <summary>The state JSON the container-side hooks receive (status <c>creating</c>).</summary>
    public string? HookState { get; set; }
    /// <summary>Init runs in a new user namespace (<see cref="Processes.UserNamespace"/>): the exec FIFO comes as
    /// a descriptor on the sync socket and device nodes are bind mounts.</summary>
    public bool UserNs { get; set; }
}
