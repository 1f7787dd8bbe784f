using System.Runtime.InteropServices;
using Tinyo.Linux;

namespace Tinyo.Rt.Processes;

/// <summary>
/// Starts a child process in new namespaces from a multithreaded .NET process without ever running managed code in
/// the child.
/// </summary>
/// <remarks>
/// <para>
/// Why: <c>fork()</c> in a multithreaded process leaves the child with one thread and locks held by threads that no
/// longer exist (GC, allocator, runtime tables), so the child may run nothing but async-signal-safe code. A
/// <c>clone(CLONE_VM|CLONE_VFORK)</c> child is cheaper (no page-table copy) but shares the parent's memory and, without
/// <c>CLONE_SETTLS</c>, its thread pointer: an <c>[UnmanagedCallersOnly]</c> entry point would run the reverse
/// P/Invoke prologue against the <em>parent</em> thread's runtime state (GC mode, transition frames) from another
/// stack, which the runtime was never designed for. So the child runs no managed code and not even libc code.
/// </para>
/// <para>
/// How: glibc's <c>clone(fn, stack, flags, arg)</c> calls <c>fn(arg)</c> in the child. <c>fn</c> is a 63-byte x86-64
/// routine, kept on an executable page of its own, that interprets a table prepared (and fully marshalled) by the
/// parent: rows of <c>{syscall number, six arguments}</c>, executed in order with the <c>syscall</c> instruction.
/// The first failing call ends the child with <c>_exit(errno)</c>. The table's last row is <c>execveat</c>, so a
/// successful child leaves our address space at once and the vfork-suspended parent resumes. The routine touches
/// only registers, its own stack and the table: no TLS, no errno, no allocator, no runtime.
/// </para>
/// <para>The routine's source (GNU as, Intel syntax):</para>
/// <code>
///   mov rbx, rdi            ; rbx = row
/// 1: mov rax, [rbx]         ; syscall number; negative ends the table
///   test rax, rax
///   js 2f
///   mov rdi, [rbx+8];  mov rsi, [rbx+16]; mov rdx, [rbx+24]
///   mov r10, [rbx+32]; mov r8,  [rbx+40]; mov r9,  [rbx+48]
///   syscall
///   test rax, rax
///   js 3f                   ; -errno
///   add rbx, 56
///   jmp 1b
/// 2: xor eax, eax
/// 3: neg eax
///   mov edi, eax
///   mov eax, 60             ; exit(errno) — the child's own thread group only
///   syscall
///   ud2
/// </code>
/// </remarks>
internal static unsafe class CloneTrampoline
{
    private static readonly byte[] Code =
    [
        0x48, 0x89, 0xfb, 0x48, 0x8b, 0x03, 0x48, 0x85, 0xc0, 0x78, 0x25, 0x48,
        0x8b, 0x7b, 0x08, 0x48, 0x8b, 0x73, 0x10, 0x48, 0x8b, 0x53, 0x18, 0x4c,
        0x8b, 0x53, 0x20, 0x4c, 0x8b, 0x43, 0x28, 0x4c, 0x8b, 0x4b, 0x30, 0x0f,
        0x05, 0x48, 0x85, 0xc0, 0x78, 0x08, 0x48, 0x83, 0xc3, 0x38, 0xeb, 0xd3,
        0x31, 0xc0, 0xf7, 0xd8, 0x89, 0xc7, 0xb8, 0x3c, 0x00, 0x00, 0x00, 0x0f,
        0x05, 0x0f, 0x0b,
    ];

    private const int StackSize = 64 * 1024;
    private static nint s_code;
    private static readonly Lock s_lock = new();

    /// <summary>One row of the table: a syscall number and its six arguments.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Row
    {
        public long Nr, A0, A1, A2, A3, A4, A5;
        public Row(long nr, long a0 = 0, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0)
        { Nr = nr; A0 = a0; A1 = a1; A2 = a2; A3 = a3; A4 = a4; A5 = a5; }
    }

    /// <summary>Maps the routine once per process: written while writable, then flipped to read+execute.</summary>
    private static nint Routine()
    {
        if (s_code != 0) return s_code;
        lock (s_lock)
        {
            if (s_code != 0) return s_code;
            if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
                throw new RtException($"starting containers is not supported on {RuntimeInformation.ProcessArchitecture} yet (x86-64 only)");
            void* page = Libc.Mmap(null, 4096, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, -1, 0);
            if (page == (void*)-1) throw Libc.Error("mmap");
            Code.CopyTo(new Span<byte>(page, Code.Length));
            if (Libc.Mprotect(page, 4096, Libc.PROT_READ | Libc.PROT_EXEC) != 0) throw Libc.Error("mprotect");
            s_code = (nint)page;
            return s_code;
        }
    }

    /// <summary>
    /// Clones a child with <paramref name="nsFlags"/> (namespace flags) that runs <paramref name="rows"/> and returns
    /// its pid once it has exec'd or died. All signals are blocked in the calling thread across the clone, so the
    /// child starts with every signal blocked and no handler of ours can run on its stack before it execs.
    /// </summary>
    public static int Run(int nsFlags, ReadOnlySpan<Row> rows)
    {
        nint fn = Routine();
        int tableBytes = (rows.Length + 1) * sizeof(Row);
        byte* mem = (byte*)NativeMemory.AlignedAlloc((nuint)(StackSize + tableBytes), 64);
        try
        {
            var table = new Span<Row>(mem + StackSize, rows.Length + 1);
            rows.CopyTo(table);
            table[rows.Length] = new Row(-1);
            ulong all = ~0UL, old = 0;
            Libc.PthreadSigmask(Libc.SIG_SETMASK, &all, &old);
            int pid;
            try
            {
                // The stack grows down: pass its top, 16-byte aligned.
                pid = Libc.Clone(fn, mem + StackSize - 64, Libc.CLONE_VM | Libc.CLONE_VFORK | Libc.SIGCHLD | nsFlags,
                    mem + StackSize);
            }
            finally
            {
                Libc.PthreadSigmask(Libc.SIG_SETMASK, &old, null);
            }
            if (pid < 0) throw Libc.Error("clone");
            return pid;
        }
        finally
        {
            // Safe: CLONE_VFORK returned only after the child exec'd or exited, so nobody uses this memory any more.
            NativeMemory.AlignedFree(mem);
        }
    }
}
