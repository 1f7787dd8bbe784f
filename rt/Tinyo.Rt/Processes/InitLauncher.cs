using System.Runtime.InteropServices;
using System.Text;
using Tinyo.Linux;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Processes;

/// <summary>
/// Starts a container's init: the runtime binary itself, exec'd with the hidden <c>init</c> verb in a child created
/// by <see cref="CloneTrampoline"/> directly in the container's new namespaces.
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
    /// the child first writes "0" to each of <paramref name="cgroupJoin"/> (see CgroupJoin) and runs
    /// <paramref name="beforeExec"/> rows right before its execveat (the user namespace handshake, <see cref="UserNamespace"/>).</summary>
    public static int Launch(string[] initCommand, bool seal, int syncFd, ReadOnlySpan<int> stdio, int cloneFlags, ReadOnlySpan<int> cgroupJoin = default, CloneTrampoline.Row[]? beforeExec = null)
    {
        if (initCommand.Length == 0) throw new RtException("no init command configured");
        // Unsealed, init is exec'd by path: a framework-dependent build must see its real path to find its files.
        int exe = seal ? SealedExecutable.Open(initCommand[0]) : AT_FDCWD_;
        var argv = new List<string>(initCommand) { "init", syncFd.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        argv[0] = Path.GetFileName(initCommand[0]);
        var env = new List<string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            if (e.Key is string k && (k.StartsWith("DOTNET_") || k == "PATH" || k == "HOME")) env.Add(k + "=" + e.Value);
        var mem = new List<nint>();
        var high = new List<int>();
        try
        {
            byte** av = Strings(argv, mem), ev = Strings(env, mem);
            byte* target = Str(seal ? "" : initCommand[0], mem);
            var rows = new List<CloneTrampoline.Row>();
            byte* zero = Str("0", mem);
            foreach (var fd in cgroupJoin) rows.Add(new(SYS_write, fd, (long)zero, 1));
            // Duplicate the stdio sources high first, so that moving them onto 0..2 cannot clobber one another.
            for (int i = 0; i < 3; i++)
            {
                int h = SysFcntl(stdio[i], F_DUPFD_CLOEXEC, 10);
                if (h < 0) throw Error($"duplicating stdio fd {stdio[i]}");
                high.Add(h);
                rows.Add(new(SYS_dup3, h, i, 0));
            }
            rows.Add(new(SYS_fcntl, syncFd, F_SETFD, 0));
            if (beforeExec is not null) rows.AddRange(beforeExec);
            rows.Add(new(SYS_execveat, exe, (long)target, (long)av, (long)ev, seal ? AT_EMPTY_PATH_ : 0));
            int pid = CloneTrampoline.Run(cloneFlags, CollectionsMarshal.AsSpan(rows));
            // vfork semantics: clone returned because the child exec'd or exited. Exited already means a row of the
            // table failed, and the trampoline's exit code is that errno.
            int st = 0;
            if (WaitPid(pid, &st, WNOHANG) == pid)
            {
                var (code, _) = DecodeWaitStatus(st);
                throw new RtException($"starting init {initCommand[0]}: {Marshal.GetPInvokeErrorMessage(code)}");
            }
            return pid;
        }
        finally
        {
            foreach (var h in high) SysClose(h);
            if (exe >= 0) SysClose(exe);
            foreach (var p in mem) NativeMemory.Free((void*)p);
        }
    }

    private static byte* Str(string s, List<nint> mem)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        byte* p = (byte*)NativeMemory.Alloc((nuint)n + 1);
        mem.Add((nint)p);
        Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
        p[n] = 0;
        return p;
    }

    private static byte** Strings(List<string> list, List<nint> mem)
    {
        byte** arr = (byte**)NativeMemory.Alloc((nuint)(list.Count + 1), (nuint)sizeof(nint));
        mem.Add((nint)arr);
        for (int i = 0; i < list.Count; i++) arr[i] = Str(list[i], mem);
        arr[list.Count] = null;
        return arr;
    }
}
