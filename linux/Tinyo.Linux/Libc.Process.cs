using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// Processes: clone, exec, wait, signals, credentials, limits, prctl.
internal static unsafe partial class Libc
{
    public const int CLONE_VM = 0x100, CLONE_VFORK = 0x4000, CLONE_NEWNS = 0x20000, CLONE_NEWCGROUP = 0x2000000,
        CLONE_NEWUTS = 0x4000000, CLONE_NEWIPC = 0x8000000, CLONE_NEWUSER = 0x10000000, CLONE_NEWPID = 0x20000000,
        CLONE_NEWNET = 0x40000000, CLONE_FS = 0x200;
    public const int SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGKILL = 9, SIGPIPE = 13, SIGTERM = 15, SIGCHLD = 17;
    public const int WNOHANG = 1;
    public const int PR_SET_MEMORY_MERGE = 67, PR_GET_MEMORY_MERGE = 68;
    public const int PR_SET_PDEATHSIG = 1, PR_SET_DUMPABLE = 4, PR_SET_KEEPCAPS = 8, PR_CAPBSET_DROP = 24,
        PR_SET_CHILD_SUBREAPER = 36, PR_SET_NO_NEW_PRIVS = 38, PR_CAP_AMBIENT = 47, PR_CAP_AMBIENT_RAISE = 2,
        PR_CAP_AMBIENT_CLEAR_ALL = 4;
    public const int PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20,
        MAP_STACK = 0x20000;
    public const int SIG_BLOCK = 0, SIG_SETMASK = 2;
    public const uint CLOSE_RANGE_CLOEXEC = 4;

    // x86-64 syscall numbers used by the clone trampoline's table and by calls glibc does not wrap.
    public const long SYS_dup3 = 292, SYS_fcntl = 72, SYS_execveat = 322, SYS_pivot_root = 155, SYS_openat2 = 437,
        SYS_open_tree = 428, SYS_move_mount = 429, SYS_fsopen = 430, SYS_fsconfig = 431, SYS_fsmount = 432,
        SYS_mount_setattr = 442, SYS_close_range = 436;

    /// <summary>glibc's clone(3): runs <paramref name="fn"/>(<paramref name="arg"/>) on <paramref name="stack"/> in the child.</summary>
    [LibraryImport("libc", EntryPoint = "clone", SetLastError = true)]
    public static partial int Clone(nint fn, void* stack, int flags, void* arg);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    public static partial int WaitPid(int pid, int* status, int options);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int sig);

    [LibraryImport("libc", EntryPoint = "getpid")]
    public static partial int GetPid();

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    public const long SYS_seccomp = 317;
    public const uint SECCOMP_SET_MODE_FILTER = 1;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_seccomp_(long nr, uint op, uint flags, void* args);

    /// <summary>seccomp(SECCOMP_SET_MODE_FILTER, <paramref name="flags"/>, prog) for a program of
    /// <c>struct sock_filter</c> records; installs it on the calling thread.</summary>
    public static int SeccompSetFilter(byte* program, int instructions, uint flags)
    {
        // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
        ulong* fprog = stackalloc ulong[2];
        fprog[0] = (ushort)instructions;
        fprog[1] = (ulong)program;
        return (int)syscall_seccomp_(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, fprog);
    }

    [LibraryImport("libc", EntryPoint = "setsid", SetLastError = true)]
    public static partial int Setsid();

    [LibraryImport("libc", EntryPoint = "execve", SetLastError = true)]
    public static partial int Execve(byte* path, byte** argv, byte** envp);

    [LibraryImport("libc", EntryPoint = "_exit")]
    public static partial void Exit(int code);

    [LibraryImport("libc", EntryPoint = "pthread_sigmask")]
    public static partial int PthreadSigmask(int how, ulong* set, ulong* old);

    /// <summary>signal(2); handler 0 is SIG_DFL, 1 is SIG_IGN. Returns the previous handler.</summary>
    [LibraryImport("libc", EntryPoint = "signal")]
    public static partial nint Signal(int sig, nint handler);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    public static partial int Setrlimit(int resource, ulong* rlim);

    [LibraryImport("libc", EntryPoint = "setresuid", SetLastError = true)]
    public static partial int Setresuid(uint r, uint e, uint s);

    [LibraryImport("libc", EntryPoint = "setresgid", SetLastError = true)]
    public static partial int Setresgid(uint r, uint e, uint s);

    [LibraryImport("libc", EntryPoint = "setgroups", SetLastError = true)]
    public static partial int Setgroups(nuint size, uint* list);

    [LibraryImport("libc", EntryPoint = "umask")]
    public static partial uint Umask(uint mask);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial void* Mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    public static partial int Mprotect(void* addr, nuint length, int prot);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(void* addr, nuint length);

    [LibraryImport("libc", EntryPoint = "close_range", SetLastError = true)]
    public static partial int CloseRange(uint first, uint last, uint flags);

    [LibraryImport("libc", EntryPoint = "capget", SetLastError = true)]
    public static partial int Capget(CapHeader* header, CapData* data);

    [LibraryImport("libc", EntryPoint = "capset", SetLastError = true)]
    public static partial int Capset(CapHeader* header, CapData* data);

    /// <summary>struct __user_cap_header_struct.</summary>
    public struct CapHeader { public uint Version; public int Pid; }

    /// <summary>struct __user_cap_data_struct (two of them for version 3: capabilities 0-31 and 32-63).</summary>
    public struct CapData { public uint Effective, Permitted, Inheritable; }

    public const uint LINUX_CAPABILITY_VERSION_3 = 0x20080522;

    /// <summary>Decodes a wait status into an exit code the way shells do: the code, or 128 + signal.</summary>
    public static (int Code, int Signal) DecodeWaitStatus(int status)
    {
        int sig = status & 0x7f;
        if (sig == 0) return ((status >> 8) & 0xff, 0);
        return (128 + sig, sig);
    }
}
