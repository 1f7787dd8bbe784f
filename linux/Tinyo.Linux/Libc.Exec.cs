using System.Runtime.InteropServices;

namespace Tinyo.Linux;

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

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_rt_sigaction(long nr, int sig, ulong* act, ulong* oldact, nuint sigsetsize);

    /// <summary>
    /// Gives every ignored signal (1–64) its default disposition, through the raw syscall: glibc's sigaction refuses
    /// 32 and 33 (its own), yet a process may inherit them ignored, and ignored signals stay ignored across execve.
    /// Handled signals are left alone (execve resets them; the .NET runtime needs its handlers until then).
    /// </summary>
    public static void ResetIgnoredSignals()
    {
        // struct kernel_sigaction { handler, flags, restorer, mask } — 4 × 8 bytes on x86-64.
        ulong* old = stackalloc ulong[4];
        ulong* dfl = stackalloc ulong[4] { 0, 0, 0, 0 };
        for (int s = 1; s <= 64; s++)
        {
            if (s is 9 or 19) continue; // SIGKILL, SIGSTOP
            if (syscall_rt_sigaction(SYS_rt_sigaction, s, null, old, 8) == 0 && old[0] == 1 /* SIG_IGN */)
                syscall_rt_sigaction(SYS_rt_sigaction, s, dfl, null, 8);
        }
    }

    /// <summary>pidfd_open(2): a descriptor of <paramref name="pid"/> (setns accepts it for all its namespaces).</summary>
    public static int PidfdOpen(int pid) => (int)syscall_pidfd_open(SYS_pidfd_open, pid, 0);
}
