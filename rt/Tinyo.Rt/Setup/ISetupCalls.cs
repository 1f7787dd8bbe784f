using Tinyo.Rt.Containers;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Security;

namespace Tinyo.Rt.Setup;

/// <summary>
/// Every call by which the init back-end changes the system (youki's <c>Syscall</c> trait is the model): the real
/// implementation is <see cref="LibcSetupCalls"/>; tests run whole plans against a recording fake, without root.
/// Paths inside the rootfs are passed as the container sees them; <c>root</c> is the rootfs fd the calls resolve
/// them in (<c>openat2(RESOLVE_IN_ROOT)</c>).
/// </summary>
internal interface ISetupCalls
{
    /// <summary>umask(2).</summary>
    void Umask(int mask);
    /// <summary>Opens the exec FIFO (create/start) before pivot_root hides it; returns its fd.</summary>
    int OpenExecFifo(InitConfig c, int syncFd);
    /// <summary>unshare(CLONE_NEWCGROUP): the cgroup joined first becomes the namespace's root.</summary>
    void UnshareCgroup();
    /// <summary>prctl(PR_SET_DUMPABLE, 0).</summary>
    void SetNotDumpable();
    /// <summary>prctl(PR_SET_MEMORY_MERGE, 1): the process and what it execs opt into kernel same-page merging.</summary>
    void SetMemoryMerge();
    /// <summary>mount(/, MS_SLAVE|MS_REC): nothing mounted from here on propagates to the host.</summary>
    void MakeRootSlave();
    /// <summary>Mounts the rootfs (an overlay of the image's layers, or a self-bind of the bundle's rootfs) and
    /// returns an O_PATH fd of it.</summary>
    int MountRootfs(InitConfig c, int syncFd);
    /// <summary>Bind-mounts <paramref name="source"/> on <paramref name="dest"/> (creating the destination, a file
    /// when <paramref name="file"/>), recursively when <paramref name="recursive"/>.</summary>
    void BindMount(int root, string source, string dest, bool file, bool recursive);
    /// <summary>Mounts a filesystem on <paramref name="dest"/> (created when missing).</summary>
    void MountFilesystem(int root, string source, string dest, string type, ulong flags, string? data);
    /// <summary>Remounts the bind mount at <paramref name="dest"/> with <paramref name="flags"/> (MS_REMOUNT|MS_BIND).</summary>
    void Remount(int root, string dest, ulong flags);
    /// <summary>Makes the mount at <paramref name="dest"/> and every mount below it read-only (mount_setattr
    /// AT_RECURSIVE): runc's and crun's <c>rro</c>.</summary>
    void ReadOnlyRecursive(int root, string dest);
    /// <summary>Sets the propagation of the mount at <paramref name="dest"/>.</summary>
    void SetPropagation(int root, string dest, ulong flag);
    /// <summary>A <c>cgroup</c> mount (cgroup2, or a tmpfs of v1 hierarchies; see <see cref="Rootfs.RootfsBuilder"/>).</summary>
    void MountCgroup(InitConfig c, int root, SpecMount m);
    /// <summary>The default /dev nodes and links in a /dev tmpfs.</summary>
    void CreateDefaultDevices(int root, bool userNs);
    /// <summary>A node of <c>linux.devices</c>.</summary>
    void CreateDevice(int root, SpecDevice d);
    /// <summary>Lets the parent run the prestart/createRuntime hooks, then runs createContainer hooks.</summary>
    void RunHooksBeforePivot(InitConfig c, int syncFd);
    /// <summary>pivot_root into <paramref name="root"/>, detach the old root, chdir /; closes <paramref name="root"/>.</summary>
    void PivotRoot(int root, string rootfs);
    /// <summary>chroot into the rootfs (a container sharing the host's mount namespace: nothing may be mounted).</summary>
    void Chroot(string rootfs);
    /// <summary>sethostname / setdomainname.</summary>
    void SetName(string name, bool host);
    /// <summary>Brings <c>lo</c> up in a new network namespace.</summary>
    void LoopbackUp();
    /// <summary>Writes a /proc file (a sysctl, oom_score_adj).</summary>
    void WriteProcFile(string path, string value);
    /// <summary>Masks a path: a read-only empty tmpfs over a directory, /dev/null over anything else.</summary>
    void Mask(string path);
    /// <summary>A read-only bind of a path over itself.</summary>
    void MakeReadonly(string path);
    /// <summary>Remounts / read-only.</summary>
    void RemountRootReadonly();
    /// <summary>Sets / to <paramref name="flags"/> propagation.</summary>
    void SetRootPropagation(ulong flags);
    /// <summary>setsid(2).</summary>
    void Setsid();
    /// <summary>setrlimit(2) for each limit.</summary>
    void SetRlimits(List<SpecRlimit>? limits);
    /// <summary>Resolves the program as execvp(3) would (an absolute one must exist and be executable).</summary>
    string ResolveProgram(string name, List<string> env);
    /// <summary>Enters the working directory resolved inside the root without magic links (created when missing).</summary>
    void EnterCwd(string cwd);
    /// <summary>Marks every fd above 2 close-on-exec.</summary>
    void CloseOnExec();
    /// <summary>Installs the seccomp filter on this thread.</summary>
    void LoadSeccomp(byte[] program, uint flags);
    /// <summary>Drops what <paramref name="caps"/> leaves out of the bounding set.</summary>
    void DropBounding(CapabilitySets caps);
    /// <summary>setgroups, setresgid, setresuid, keeping the permitted set across the uid change when
    /// <paramref name="keepCaps"/>.</summary>
    void SetIds(SpecUser user, bool keepCaps);
    /// <summary>Installs the capability sets (and the ambient ones) on this thread.</summary>
    void ApplyCapabilities(CapabilitySets caps);
    /// <summary>prctl(PR_SET_NO_NEW_PRIVS, 1).</summary>
    void SetNoNewPrivs();
    /// <summary>Allocates the pty in the container and hands its master to the parent.</summary>
    void SetUpTerminal(InitConfig c, int syncFd);
    /// <summary>Answers ready (<c>R</c>) and waits for the start signal (the parent's <c>G</c> or the exec FIFO).</summary>
    void ReadyAndWait(InitConfig c, int syncFd, int fifoFd);
    /// <summary>Runs the startContainer hooks.</summary>
    void RunStartContainerHooks(InitConfig c);
    /// <summary>Gives ignored signals their default disposition back (they would stay ignored across execve).</summary>
    void ResetIgnoredSignals();
    /// <summary>execve(2); returns only by throwing.</summary>
    void Exec(string path, List<string> args, List<string> env);
}
