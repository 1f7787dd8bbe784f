using Tinyo.Linux;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Processes;

/// <summary>
/// Starts a container's init: the runtime binary itself, exec'd with the hidden <c>init</c> verb in a child created
/// by the <see cref="SyscallScript"/> trampoline directly in the container's new namespaces.
/// </summary>
/// <remarks>
/// The process model: <c>tinyort</c> (multithreaded .NET) → clone(CLONE_VM|CLONE_VFORK|CLONE_NEW*) child that only
/// runs a table of raw syscalls (dup3 stdio into place, clear close-on-exec of the sync socket, execveat of the
/// sealed runtime binary) → <c>tinyort init FD</c>, a fresh process image that is pid 1 of the new pid namespace.
/// Being a fresh image, init may run managed code freely: it builds the rootfs, drops privileges on its main thread
/// (credentials, capabilities and unshare are per-thread, and that same thread execs) and finally execve()s the
/// container's process, which keeps pid 1.
/// </remarks>
internal static unsafe class InitLauncher
{
    /// <summary>Clones and execs init; returns its pid. <paramref name="stdio"/> are fds for 0, 1, 2 in the child;
    /// the child first writes "0" to each of <paramref name="cgroupJoin"/> (see CgroupJoin), runs the
    /// <paramref name="plan"/>'s launch steps (namespaces joined by path; its pid namespace is entered around the
    /// clone) and <paramref name="beforeExec"/>'s rows right before its execveat (the user namespace handshake,
    /// <see cref="UserNamespace"/>).</summary>
    public static int Launch(string[] initCommand, bool seal, int syncFd, ReadOnlySpan<int> stdio, int cloneFlags,
        ReadOnlySpan<int> cgroupJoin = default, UserNamespace.Mapper? beforeExec = null, Setup.SetupPlan? plan = null)
    {
        if (initCommand.Length == 0) throw new RtException("no init command configured");
        // Unsealed, init is exec'd by path: a framework-dependent build must see its real path to find its files.
        int exe = seal ? SealedExecutable.Open(initCommand[0]) : AT_FDCWD_;
        var argv = new List<string>(initCommand) { "init", syncFd.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        argv[0] = Path.GetFileName(initCommand[0]);
        var env = new List<string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            if (e.Key is string k && (k.StartsWith("DOTNET_") || k == "PATH" || k == "HOME")) env.Add(k + "=" + e.Value);
        var high = new List<int>();
        int pidNs = -1;
        using var s = new SyscallScript();
        try
        {
            // No fd plan here: the rows use the parent's fd numbers (the child has a copy of the table).
            var ctx = new Setup.RowContext { S = s };
            new Setup.JoinCgroupStep(cgroupJoin.ToArray()).Emit(ctx);
            foreach (var step in plan?.Launch ?? [])
            {
                if (step is Setup.JoinNamespaceStep j) j.Open();
                ((Setup.IRowStep)step).Emit(ctx);
            }
            if (plan?.PidNamespacePath is { } pidPath)
            {
                pidNs = SysOpen(pidPath, OFlag.RdOnly | OFlag.Cloexec, 0);
                if (pidNs < 0) throw Error("opening namespace", pidPath);
            }
            // Duplicate the stdio sources high first, so that moving them onto 0..2 cannot clobber one another.
            for (int i = 0; i < 3; i++)
            {
                int h = SysFcntl(stdio[i], F_DUPFD_CLOEXEC, 10);
                if (h < 0) throw Error($"duplicating stdio fd {stdio[i]}");
                high.Add(h);
                s.Add("setting up stdio", SYS_dup3, h, i, 0);
            }
            s.Add("passing the sync socket", SYS_fcntl, syncFd, F_SETFD, 0);
            beforeExec?.Emit(s);
            s.Add($"starting init {initCommand[0]}", SYS_execveat, exe, s.Str(seal ? "" : initCommand[0]), s.Strings(argv), s.Strings(env), seal ? AT_EMPTY_PATH_ : 0);
            return s.Run(cloneFlags, null, pidNs);
        }
        finally
        {
            foreach (var h in high) SysClose(h);
            if (exe >= 0) SysClose(exe);
            if (pidNs >= 0) SysClose(pidNs);
            foreach (var step in plan?.Launch ?? []) (step as Setup.JoinNamespaceStep)?.Close();
        }
    }
}
