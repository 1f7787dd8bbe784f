using System.Runtime.InteropServices;

namespace Tinyo.Rt.Linux;

// exec into a running container: pidfd_open and the syscall numbers the clone trampoline's table uses; rmdir.
internal static unsafe partial class Libc
{
    public const long SYS_write = 1, SYS_rt_sigaction = 13, SYS_rt_sigprocmask = 14, SYS_execve = 59, SYS_chdir = 80,
        SYS_setgroups = 116, SYS_setresuid = 117, SYS_setresgid = 119, SYS_capset = 126, SYS_prctl = 157,
        SYS_prlimit64 = 302, SYS_setns = 308, SYS_pidfd_open = 434;

    [LibraryImport("libc", EntryPoint = "rmdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SysRmdir(string path);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_pidfd_open(long nr, int pid, uint flags);

    /// <summary>pidfd_open(2): a descriptor of <paramref name="pid"/> (setns accepts it for all its namespaces).</summary>
    public static int PidfdOpen(int pid) => (int)syscall_pidfd_open(SYS_pidfd_open, pid, 0);
}
