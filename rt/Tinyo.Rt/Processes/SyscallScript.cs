using System.Runtime.InteropServices;
using System.Text;
using Tinyo.Linux;

namespace Tinyo.Rt.Processes;

/// <summary>
/// The one syscall-row builder and clone trampoline: a list of raw syscalls that a <c>clone(CLONE_VM|CLONE_VFORK)</c>
/// child executes in order, ending in <c>execve</c> or <c>execveat</c>. Every child this runtime starts goes through
/// it: a container's direct start (<see cref="Setup.DirectBackend"/>), the init launcher, <c>exec</c>, hooks and the
/// exit monitor. Rows may tolerate chosen errnos (optionally skipping the rows that depended on them), check that a
/// new fd got the number the parent planned for it, and a failure records which row failed, so the parent can report
/// it by name ("mounting proc on /proc: …").
/// </summary>
/// <remarks>
/// <para><b>Why no managed code runs in the child.</b> <c>fork()</c> in a multithreaded process leaves the child with
/// one thread and locks held by threads that no longer exist (GC, allocator, runtime tables). A
/// <c>clone(CLONE_VM|CLONE_VFORK)</c> child is cheaper (no page-table copy) but shares the parent's memory and, without
/// <c>CLONE_SETTLS</c>, its thread pointer, so it runs neither managed code nor libc: only the small routine below,
/// on an executable page of its own, which touches registers, its own stack and the table. All signals are blocked in
/// the calling thread across the clone, so no handler of ours can run on the child's stack before it execs.</para>
/// <para><b>File descriptors are planned, not discovered.</b> mount(2) takes paths, and the only path of an fd opened
/// in the child is <c>/proc/self/fd/N</c>, so the parent must know N before the child runs. The script therefore
/// starts by moving the fds the child needs to fixed numbers above every fd of the parent and closing everything else
/// (the child has its own copy of the fd table: no CLONE_FILES); from then on the kernel hands out the lowest free
/// number, which the builder simulates (<see cref="Open"/>, <see cref="Close"/>). Every fd-creating row carries the
/// number it must return: a mismatch ends the child (EBADFD) rather than mounting on the wrong target. A row that
/// tolerates an errno and skips the rows after it must skip only rows whose fds it would have created and closed
/// (the builder's callers keep such groups fd-neutral).</para>
/// <para><b>The routine</b> (GNU as, Intel syntax; rows of 96 bytes: nr, six args, flags, skip, tolerated-errno mask,
/// expected result, result; a header word before the first row receives the failing row's address):</para>
/// <code>
///   mov r12, rdi; lea rbx, [rdi+8]
/// 1: mov rax, [rbx]; test rax, rax; js 5f          ; nr &lt; 0 ends the table
///   mov rdi..r9, [rbx+8..48]; syscall; mov [rbx+80], rax
///   test rax, rax; js 3f
///   test dword [rbx+56], 1; jz 2f; cmp rax, [rbx+72]; je 2f
///   mov eax, -77; jmp 4f                            ; EBADFD: the fd plan diverged
/// 2: add rbx, 96; jmp 1b
/// 3: mov rcx, rax; neg rcx; cmp rcx, 64; jae 4f     ; errno tolerated by the row's mask?
///   mov rdx, [rbx+64]; bt rdx, rcx; jnc 4f
///   mov ecx, [rbx+60]; imul rcx, rcx, 96; add rbx, rcx; jmp 2b   ; skip the dependent rows
/// 4: mov [r12], rbx; neg eax; mov edi, eax; mov eax, 60; syscall; ud2   ; exit(errno)
/// 5: xor edi, edi; mov eax, 60; syscall; ud2
/// </code>
/// </remarks>
internal sealed unsafe class SyscallScript : IDisposable
{
    private static readonly byte[] Code =
    [
        0x49, 0x89, 0xfc, 0x48, 0x8d, 0x5f, 0x08, 0x48, 0x8b, 0x03, 0x48, 0x85,
        0xc0, 0x78, 0x72, 0x48, 0x8b, 0x7b, 0x08, 0x48, 0x8b, 0x73, 0x10, 0x48,
        0x8b, 0x53, 0x18, 0x4c, 0x8b, 0x53, 0x20, 0x4c, 0x8b, 0x43, 0x28, 0x4c,
        0x8b, 0x4b, 0x30, 0x0f, 0x05, 0x48, 0x89, 0x43, 0x50, 0x48, 0x85, 0xc0,
        0x78, 0x1c, 0xf7, 0x43, 0x38, 0x01, 0x00, 0x00, 0x00, 0x74, 0x0d, 0x48,
        0x3b, 0x43, 0x48, 0x74, 0x07, 0xb8, 0xb3, 0xff, 0xff, 0xff, 0xeb, 0x28,
        0x48, 0x83, 0xc3, 0x60, 0xeb, 0xb9, 0x48, 0x89, 0xc1, 0x48, 0xf7, 0xd9,
        0x48, 0x83, 0xf9, 0x40, 0x73, 0x16, 0x48, 0x8b, 0x53, 0x40, 0x48, 0x0f,
        0xa3, 0xca, 0x73, 0x0c, 0x8b, 0x4b, 0x3c, 0x48, 0x6b, 0xc9, 0x60, 0x48,
        0x01, 0xcb, 0xeb, 0xd8, 0x49, 0x89, 0x1c, 0x24, 0xf7, 0xd8, 0x89, 0xc7,
        0xb8, 0x3c, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x0f, 0x0b, 0x31, 0xff, 0xb8,
        0x3c, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x0f, 0x0b,
    ];

    /// <summary>
    /// The clone3 entry, on the same page after the routine (at <see cref="Clone3Offset"/>): glibc exports no clone3,
    /// and only clone3 takes CLONE_INTO_CGROUP. Called as <c>long stub(clone_args*, size, fn, arg)</c>; the child
    /// starts on the new stack with the parent's registers, so fn and arg ride in r8/r9 (syscall keeps them):
    /// <code>
    ///   mov r8, rdx; mov r9, rcx; mov eax, 435; syscall   ; clone3
    ///   test rax, rax; jnz 1f
    ///   mov rdi, r9; call r8; ud2                          ; child: the routine, which exits
    /// 1: ret                                               ; parent: pid or -errno
    /// </code>
    /// </summary>
    private static readonly byte[] Clone3Code =
    [
        0x49, 0x89, 0xd0, 0x49, 0x89, 0xc9, 0xb8, 0xb3, 0x01, 0x00, 0x00, 0x0f,
        0x05, 0x48, 0x85, 0xc0, 0x75, 0x08, 0x4c, 0x89, 0xcf, 0x41, 0xff, 0xd0,
        0x0f, 0x0b, 0xc3,
    ];

    private const int Clone3Offset = 2048;
    private const ulong CLONE_INTO_CGROUP = 0x200000000UL;

    private const int StackSize = 64 * 1024;
    private const int EBADFD = 77;
    private static nint s_code;
    private static readonly Lock s_lock = new();

    [StructLayout(LayoutKind.Sequential)]
    private struct Row
    {
        public long Nr, A0, A1, A2, A3, A4, A5;
        public uint Flags, Skip;
        public ulong OkMask;
        public long Expect, Result, Pad;
    }

    private readonly List<Row> _rows;
    private readonly List<string> _what;
    private readonly List<nint> _mem = [];
    private readonly SortedSet<int> _open = [];

    /// <summary>A script of about <paramref name="rows"/> rows. A container's script (≈ 250 rows for runc's spec on
    /// this host) says so: growing from empty copied the 96-byte rows six times, ≈ 1 % of a CLI start's CPU in fresh GC
    /// memory (perf record); the small scripts (monitor spawn, init launch) keep the small default.</summary>
    public SyscallScript(int rows = 16)
    {
        _rows = new(rows);
        _what = new(rows);
    }

    /// <summary>Syscall numbers (x86-64) used by scripts beyond those in <see cref="Libc"/>.</summary>
    public const long SYS_close = 3, SYS_socket = 41, SYS_umask = 95,
        SYS_mount = 165, SYS_umount2 = 166, SYS_sethostname = 170, SYS_setdomainname = 171, SYS_unshare = 272,
        SYS_mkdirat = 258, SYS_mknodat = 259, SYS_fchmodat = 268, SYS_symlinkat = 266, SYS_fchdir = 81, SYS_openat = 257;

    /// <summary>A bit of a tolerated-errno mask.</summary>
    public static ulong Ok(int errno) => 1UL << errno;

    /// <summary>A NUL-terminated UTF-8 copy of <paramref name="s"/> in native memory that lives as long as the script.</summary>
    public long Str(string s)
    {
        int n = Encoding.UTF8.GetByteCount(s);
        byte* p = (byte*)Block(n + 1);
        Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
        return (long)p;
    }

    /// <summary>A NULL-terminated array of strings (argv, envp).</summary>
    public long Strings(IReadOnlyList<string> l)
    {
        var a = (long*)Block((l.Count + 1) * 8);
        for (int i = 0; i < l.Count; i++) a[i] = Str(l[i]);
        return (long)a;
    }

    /// <summary>Zeroed native memory that lives as long as the script.</summary>
    public nint Block(int bytes)
    {
        var m = (nint)NativeMemory.AllocZeroed((nuint)Math.Max(bytes, 8));
        _mem.Add(m);
        return m;
    }

    /// <summary>Adds a row; <paramref name="what"/> names it in an error ("mounting proc on /proc").</summary>
    public void Add(string what, long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0,
        ulong ok = 0, int skip = 0)
    {
        _rows.Add(new Row { Nr = nr, A0 = a0, A1 = a1, A2 = a2, A3 = a3, A4 = a4, A5 = a5, OkMask = ok, Skip = (uint)skip });
        _what.Add(what);
    }

    /// <summary>Marks an fd the child holds once its descriptors are in place (stdio and the moved ones).</summary>
    public void Adopt(int fd) => _open.Add(fd);

    /// <summary>
    /// Adds a row that creates an fd; returns the number the kernel will give it (the lowest free one), which the row
    /// checks. With a tolerated errno, the <paramref name="skip"/> rows after it must include its <see cref="Close"/>.
    /// </summary>
    public int Open(string what, long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0, ulong ok = 0, int skip = 0)
    {
        int fd = 0;
        while (_open.Contains(fd)) fd++;
        _open.Add(fd);
        _rows.Add(new Row { Nr = nr, A0 = a0, A1 = a1, A2 = a2, A3 = a3, Flags = 1, Expect = fd, OkMask = ok, Skip = (uint)skip });
        _what.Add(what);
        return fd;
    }

    /// <summary>Adds a row closing <paramref name="fd"/>.</summary>
    public void Close(int fd)
    {
        _open.Remove(fd);
        Add("close", SYS_close, fd);
    }

    /// <summary>The row count so far (for skip distances).</summary>
    public int Count => _rows.Count;

    /// <summary>What each row does, in order (the names a failure is reported with; tests assert on them).</summary>
    public IReadOnlyList<string> Descriptions => _what;

    /// <summary>The syscall number of each row, in order.</summary>
    public IEnumerable<long> Numbers { get { foreach (var r in _rows) yield return r.Nr; } }

    /// <summary><c>/proc/self/fd/N</c> of a planned fd.</summary>
    public long FdPath(int fd) => Str("/proc/self/fd/" + fd.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static nint Routine()
    {
        if (s_code != 0) return s_code;
        lock (s_lock)
        {
            if (s_code != 0) return s_code;
            void* page = Libc.Mmap(null, 4096, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
            if (page == (void*)-1) throw Libc.Error("mmap");
            Code.CopyTo(new Span<byte>(page, Code.Length));
            Clone3Code.CopyTo(new Span<byte>((byte*)page + Clone3Offset, Clone3Code.Length));
            if (Libc.Mprotect(page, 4096, Libc.PROT_READ | Libc.PROT_EXEC) != 0) throw Libc.Error("mprotect");
            s_code = (nint)page;
            return s_code;
        }
    }

    /// <summary>
    /// Clones a child in <paramref name="nsFlags"/> that runs the script; returns its pid once it has exec'd. When a
    /// row fails, the child (which exited) is reaped and the failure is thrown as "<c>what: strerror</c>", or as
    /// <paramref name="describe"/>(errno) when the last row fails and that gives a message.
    /// </summary>
    /// <param name="nsFlags">CLONE_NEW* flags of the namespaces the child is created in.</param>
    /// <param name="describe">A message for a failure of the last row (the exec), or null for the default.</param>
    /// <param name="pidNsFd">A pid namespace (an nsfs fd or a pidfd) the child is born in, or -1. A task cannot
    /// enter a pid namespace itself (<c>setns(CLONE_NEWPID)</c> sets only its future children's), so a dedicated
    /// thread sets it, clones, and sets its own back before doing anything else.</param>
    /// <param name="reap">false: a failing child is not reaped and its pid is returned (its exit status is the
    /// errno), for callers that supervise the child themselves.</param>
    /// <param name="intoCgroup">A cgroup v2 directory fd the child is born in (clone3's CLONE_INTO_CGROUP, Linux ≥
    /// 5.7), or -1. Born there, not moved: a task moving itself by writing cgroup.procs takes the global
    /// threadgroup rwsem for writing (7–50 ms measured here), a birth takes its read side.</param>
    public int Run(int nsFlags, Func<int, string?>? describe = null, int pidNsFd = -1, bool reap = true, int intoCgroup = -1)
    {
        if (pidNsFd < 0) return RunHere(nsFlags, describe, reap, intoCgroup);
        int pid = -1;
        Exception? failure = null;
        var t = new Thread(() =>
        {
            int self = -1;
            try
            {
                self = Libc.SysOpen("/proc/thread-self/ns/pid", Libc.OFlag.RdOnly | Libc.OFlag.Cloexec, 0);
                if (self < 0) throw Libc.Error("opening our pid namespace");
                if (Libc.Setns(pidNsFd, Libc.CLONE_NEWPID) != 0) throw Libc.Error("entering the container's pid namespace");
                try { pid = RunHere(nsFlags, describe, reap, intoCgroup); }
                finally
                {
                    if (Libc.Setns(self, Libc.CLONE_NEWPID) != 0) Environment.FailFast("cannot return to our pid namespace");
                }
            }
            catch (Exception e) { failure = e; }
            finally { if (self >= 0) Libc.SysClose(self); }
        }, 256 * 1024);
        t.Start();
        t.Join();
        if (failure is not null) throw failure;
        return pid;
    }

    private int RunHere(int nsFlags, Func<int, string?>? describe, bool reap, int intoCgroup)
    {
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
            throw new RtException($"starting containers is not supported on {RuntimeInformation.ProcessArchitecture} yet (x86-64 only)");
        nint fn = Routine();
        int tableBytes = 8 + (_rows.Count + 1) * sizeof(Row);
        byte* mem = (byte*)NativeMemory.AlignedAlloc((nuint)(StackSize + tableBytes), 64);
        try
        {
            long* header = (long*)(mem + StackSize);
            *header = 0;
            var table = new Span<Row>(mem + StackSize + 8, _rows.Count + 1);
            CollectionsMarshal.AsSpan(_rows).CopyTo(table);
            table[_rows.Count] = new Row { Nr = -1 };
            ulong all = ~0UL, old = 0;
            Libc.PthreadSigmask(Libc.SIG_SETMASK, &all, &old);
            int pid;
            try
            {
                if (intoCgroup < 0) pid = Libc.Clone(fn, mem + StackSize - 64, Libc.CLONE_VM | Libc.CLONE_VFORK | Libc.SIGCHLD | nsFlags, header);
                else
                {
                    // struct clone_args (CLONE_ARGS_SIZE_VER2): flags, pidfd, child_tid, parent_tid, exit_signal,
                    // stack, stack_size, tls, set_tid, set_tid_size, cgroup. The child's sp = stack + stack_size.
                    ulong* args = stackalloc ulong[11];
                    new Span<ulong>(args, 11).Clear();
                    args[0] = (ulong)(uint)(Libc.CLONE_VM | Libc.CLONE_VFORK | nsFlags) | CLONE_INTO_CGROUP;
                    args[4] = Libc.SIGCHLD;
                    args[5] = (ulong)mem;
                    args[6] = StackSize - 64;
                    args[10] = (ulong)intoCgroup;
                    var stub = (delegate* unmanaged<ulong*, nuint, nint, void*, long>)(fn + Clone3Offset);
                    long r = stub(args, 88, fn, header);
                    if (r < 0) throw new RtException($"clone3 into the cluster's cgroup: {Marshal.GetPInvokeErrorMessage((int)-r)}");
                    pid = (int)r;
                }
            }
            finally { Libc.PthreadSigmask(Libc.SIG_SETMASK, &old, null); }
            if (pid < 0) throw Libc.Error("clone");
            // vfork: the child has exec'd (header untouched) or exited after recording its failing row.
            if (*header != 0 && reap)
            {
                int i = (int)((*header - (long)(mem + StackSize + 8)) / sizeof(Row));
                int errno = (int)-table[i].Result;
                if (table[i].Result >= 0) errno = EBADFD;
                int st;
                Libc.WaitPid(pid, &st, 0);
                var custom = describe?.Invoke(errno);
                if (i == _rows.Count - 1 && custom is not null) throw new RtException(custom);
                if (errno == EBADFD && table[i].Result >= 0)
                    throw new RtException($"{_what[i]}: got fd {table[i].Result}, planned {table[i].Expect} (internal error)");
                throw new RtException($"{_what[i]}: {Marshal.GetPInvokeErrorMessage(errno)}");
            }
            return pid;
        }
        finally
        {
            // Safe: CLONE_VFORK returned only after the child exec'd or exited.
            NativeMemory.AlignedFree(mem);
        }
    }

    /// <summary>Frees the strings and blocks.</summary>
    public void Dispose()
    {
        foreach (var m in _mem) NativeMemory.Free((void*)m);
        _mem.Clear();
    }
}
