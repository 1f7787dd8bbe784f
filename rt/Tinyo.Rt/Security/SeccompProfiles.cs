namespace Tinyo.Rt.Security;

/// <summary>
/// Built-in seccomp profiles. <see cref="DockerDefault"/> follows the semantics of moby's
/// <c>profiles/seccomp/default.json</c>: everything is refused with EPERM except an allow-list of ordinary calls;
/// calls that need a capability are allowed only when the container has it (so a container without CAP_SYS_ADMIN
/// cannot even reach mount, unshare, setns or bpf's code in the kernel); clone may not create namespaces and clone3
/// reports ENOSYS (its flags are in memory that seccomp cannot inspect, so libc falls back to clone).
/// </summary>
public static class SeccompProfiles
{
    /// <summary>Calls every container may make (moby's unconditional allow-list, x86-64 and generic names).</summary>
    private static readonly string[] Allowed =
    [
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir", "chmod",
        "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
        "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect",
        "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
        "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit",
        "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir",
        "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr",
        "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
        "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait",
        "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
        "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid",
        "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid",
        "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
        "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat", "inotify_add_watch",
        "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
        "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc", "kill",
        "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
        "link", "linkat", "listen", "listxattr", "listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr",
        "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore",
        "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
        "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
        "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
        "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2",
        "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
        "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
        "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
        "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "removexattrat",
        "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
        "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
        "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
        "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
        "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
        "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
        "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid",
        "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
        "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32",
        "setxattr", "setxattrat", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
        "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx",
        "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
        "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
        "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
        "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
        "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
        // x86-64 only (moby: includes.arches amd64)
        "arch_prctl", "modify_ldt",
        // moby: minKernel 4.8, where seccomp can no longer be bypassed through ptrace
        "process_vm_readv", "process_vm_writev", "ptrace",
    ];

    /// <summary>Calls allowed only with a capability (moby's includes.caps rules).</summary>
    private static readonly (string Cap, string[] Names)[] ByCapability =
    [
        ("CAP_DAC_READ_SEARCH", ["open_by_handle_at"]),
        ("CAP_SYS_ADMIN", ["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
            "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "open_tree_attr", "perf_event_open",
            "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
            "listmount", "statmount"]),
        ("CAP_SYS_BOOT", ["reboot"]),
        ("CAP_SYS_CHROOT", ["chroot"]),
        ("CAP_SYS_MODULE", ["delete_module", "init_module", "finit_module"]),
        ("CAP_SYS_PACCT", ["acct"]),
        ("CAP_SYS_PTRACE", ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"]),
        ("CAP_SYS_RAWIO", ["iopl", "ioperm"]),
        ("CAP_SYS_TIME", ["settimeofday", "stime", "clock_settime", "clock_settime64"]),
        ("CAP_SYS_TTY_CONFIG", ["vhangup"]),
        ("CAP_SYS_NICE", ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
        ("CAP_SYSLOG", ["syslog"]),
        ("CAP_BPF", ["bpf"]),
        ("CAP_PERFMON", ["perf_event_open"]),
    ];

    /// <summary>The namespace flags clone may not carry without CAP_SYS_ADMIN: NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET (0x7E020000).</summary>
    public const ulong CloneNamespaceFlags = 0x7E020000;

    /// <summary>
    /// Docker's default profile for a container whose capabilities (bounding set, names such as <c>CAP_SYS_ADMIN</c>)
    /// are <paramref name="capabilities"/>.
    /// </summary>
    public static SeccompProfile DockerDefault(IEnumerable<string> capabilities)
    {
        var caps = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var c in capabilities) caps.Add(c.StartsWith("CAP_", StringComparison.OrdinalIgnoreCase) ? c : "CAP_" + c);
        var p = new SeccompProfile
        {
            DefaultAction = "SCMP_ACT_ERRNO",
            DefaultErrnoRet = 1, // EPERM
            // Only the native ABI: tinyort has no i386/x32 call tables, so those ABIs are killed rather than half-filtered.
            Architectures = ["SCMP_ARCH_X86_64"],
        };
        p.Syscalls.Add(new SeccompRule { Names = [.. Allowed], Action = "SCMP_ACT_ALLOW" });
        // socket: anything but AF_VSOCK (40), which reaches the host's hypervisor sockets.
        p.Syscalls.Add(new SeccompRule { Names = ["socket"], Action = "SCMP_ACT_ALLOW", Args = [new() { Index = 0, Value = 40, Op = "SCMP_CMP_NE" }] });
        // personality: only the harmless personas (Linux, Linux32, UNAME26 variants, and the query 0xffffffff).
        foreach (ulong persona in new ulong[] { 0, 8, 0x20000, 0x20008, 0xffffffff })
            p.Syscalls.Add(new SeccompRule { Names = ["personality"], Action = "SCMP_ACT_ALLOW", Args = [new() { Index = 0, Value = persona, Op = "SCMP_CMP_EQ" }] });
        foreach (var (cap, names) in ByCapability)
            if (caps.Contains(cap)) p.Syscalls.Add(new SeccompRule { Names = [.. names], Action = "SCMP_ACT_ALLOW" });
        if (!caps.Contains("CAP_SYS_ADMIN"))
        {
            // clone without namespace flags: (flags & CloneNamespaceFlags) == 0.
            p.Syscalls.Add(new SeccompRule { Names = ["clone"], Action = "SCMP_ACT_ALLOW", Args = [new() { Index = 0, Value = CloneNamespaceFlags, ValueTwo = 0, Op = "SCMP_CMP_MASKED_EQ" }] });
            // clone3's flags live in a struct seccomp cannot read: ENOSYS makes glibc fall back to clone.
            p.Syscalls.Add(new SeccompRule { Names = ["clone3"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 38 });
        }
        return p;
    }
}
