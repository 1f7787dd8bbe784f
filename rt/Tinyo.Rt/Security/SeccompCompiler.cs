using System.Buffers.Binary;

namespace Tinyo.Rt.Security;

/// <summary>
/// Compiles a <see cref="SeccompProfile"/> into a classic BPF program for seccomp(SECCOMP_SET_MODE_FILTER), the job
/// libseccomp does for runc, in a few hundred lines of C# and without a native dependency.
/// </summary>
/// <remarks>
/// Program layout (x86-64 only):
/// <code>
///   arch != AUDIT_ARCH_X86_64          → KILL_PROCESS   (i386 and other ABIs have other numbers: never let them by)
///   nr &gt;= 0x40000000 (x32 ABI)        → KILL_PROCESS   (as libseccomp without SCMP_ARCH_X32; -1, a tracer's skip, excepted)
///   nr &gt; newest call known            → ERRNO(ENOSYS)  (so libc falls back, as runc does; only if default is not ALLOW)
///   binary search on nr over the calls with rules (jge/ja), then at the leaves, per call:
///     nr == N, no conditions           → action
///     nr == N, conditions              → rules in order, first whose conditions all hold; then N's unconditional rule
///   anything else                      → default action
/// </code>
/// 64-bit arguments are compared as two 32-bit halves (classic BPF is 32-bit), high half first. Several conditions on
/// one argument index in a rule are alternatives (the rule is split into one rule per condition), which is what runc
/// does for libseccomp. Names this architecture does not have are skipped, as runc and libseccomp do; they are
/// reported in <see cref="Result.Skipped"/>.
/// </remarks>
public static class SeccompCompiler
{
    /// <summary>A compiled program and what was left out.</summary>
    /// <param name="Program">The filter: <c>struct sock_filter</c> records (8 bytes each), native byte order.</param>
    /// <param name="Flags">seccomp(2) flags to load it with.</param>
    /// <param name="Skipped">Call names unknown on x86-64, skipped.</param>
    public sealed record Result(byte[] Program, uint Flags, IReadOnlyList<string> Skipped)
    {
        /// <summary>Number of BPF instructions.</summary>
        public int Length => Program.Length / 8;
    }

    /// <summary>AUDIT_ARCH_X86_64 (EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE).</summary>
    public const uint AuditArchX86_64 = 0xC000003E;
    /// <summary>The bit the x32 ABI sets in system call numbers.</summary>
    public const uint X32SyscallBit = 0x40000000;

    /// <summary>seccomp return values (linux/seccomp.h).</summary>
    public const uint RetKillProcess = 0x80000000, RetKillThread = 0, RetTrap = 0x00030000, RetErrno = 0x00050000,
        RetTrace = 0x7ff00000, RetLog = 0x7ffc0000, RetAllow = 0x7fff0000;

    private const uint EPERM = 1, ENOSYS = 38;
    private const int MaxInstructions = 4096; // BPF_MAXINSNS

    // BPF opcodes (linux/bpf_common.h).
    private const ushort LdAbsW = 0x00 | 0x00 | 0x20, JmpJa = 0x05 | 0x00, JeqK = 0x05 | 0x10, JgtK = 0x05 | 0x20,
        JgeK = 0x05 | 0x30, AndK = 0x04 | 0x50, RetK = 0x06;

    // struct seccomp_data offsets.
    private const uint OffNr = 0, OffArch = 4, OffArgs = 16;

    /// <summary>The seccomp return value of an action, with its errno; throws naming <paramref name="where"/> for
    /// an unknown or unsupported action.</summary>
    public static uint ActionCode(string action, uint? errnoRet, string where = "seccomp")
    {
        uint errno = errnoRet ?? EPERM;
        if (errno > 0xFFFF) throw new RtException($"{where}: errnoRet {errno} is out of range");
        return action switch
        {
            "SCMP_ACT_ALLOW" => RetAllow,
            "SCMP_ACT_ERRNO" => RetErrno | errno,
            "SCMP_ACT_KILL" or "SCMP_ACT_KILL_THREAD" => RetKillThread,
            "SCMP_ACT_KILL_PROCESS" => RetKillProcess,
            "SCMP_ACT_TRAP" => RetTrap,
            "SCMP_ACT_LOG" => RetLog,
            "SCMP_ACT_TRACE" => RetTrace | errno,
            "SCMP_ACT_NOTIFY" => throw new RtException($"{where}: SCMP_ACT_NOTIFY (a notification listener) is not supported"),
            _ => throw new RtException($"{where}: unknown action \"{action}\""),
        };
    }

    /// <summary>Compiles <paramref name="profile"/>; errors (bad actions, arch, flags, a program too long) name the problem.</summary>
    public static Result Compile(SeccompProfile profile)
    {
        uint defaultRet = ActionCode(profile.DefaultAction, profile.DefaultErrnoRet, "linux.seccomp.defaultAction");
        foreach (var a in profile.Architectures)
            if (a is not ("SCMP_ARCH_X86_64" or "SCMP_ARCH_X86" or "SCMP_ARCH_X32" or "SCMP_ARCH_AARCH64" or "SCMP_ARCH_ARM"
                or "SCMP_ARCH_MIPS" or "SCMP_ARCH_MIPS64" or "SCMP_ARCH_MIPS64N32" or "SCMP_ARCH_MIPSEL" or "SCMP_ARCH_MIPSEL64"
                or "SCMP_ARCH_MIPSEL64N32" or "SCMP_ARCH_PPC" or "SCMP_ARCH_PPC64" or "SCMP_ARCH_PPC64LE" or "SCMP_ARCH_S390"
                or "SCMP_ARCH_S390X" or "SCMP_ARCH_PARISC" or "SCMP_ARCH_PARISC64" or "SCMP_ARCH_RISCV64" or "SCMP_ARCH_LOONGARCH64"))
                throw new RtException($"linux.seccomp.architectures: unknown architecture \"{a}\"");
        uint flags = 0;
        foreach (var f in profile.Flags)
            flags |= f switch
            {
                "SECCOMP_FILTER_FLAG_TSYNC" => 1u,
                "SECCOMP_FILTER_FLAG_LOG" => 2u,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => 4u,
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => 0u, // only meaningful with a listener
                _ => throw new RtException($"linux.seccomp.flags: unknown flag \"{f}\""),
            };

        // Gather rules per call number, in spec order.
        var byNr = new List<(uint Ret, List<SeccompArg> Args)>?[SeccompSyscalls.MaxKnown + 1];
        var skipped = new List<string>();
        HashSet<string>? skippedSet = null;
        foreach (var rule in profile.Syscalls)
        {
            uint ret = ActionCode(rule.Action, rule.ErrnoRet, "linux.seccomp.syscalls");
            foreach (var name in rule.Names)
            {
                if (!SeccompSyscalls.TryGetNumber(name, out int nr)) { if ((skippedSet ??= []).Add(name)) skipped.Add(name); continue; }
                var list = byNr[nr] ??= [];
                if (rule.Args.Count == 0) list.Add((ret, rule.Args));
                else foreach (var args in SplitAlternatives(rule.Args)) list.Add((ret, args));
            }
        }

        var p = new List<Insn>(1024)
        {
            Ld(OffArch),
            new(JeqK, 1, 0, AuditArchX86_64),
            Ret(RetKillProcess),
            Ld(OffNr),
            new(JgeK, 0, 2, X32SyscallBit),
            // -1 is what a tracer sets to skip a call, and the filter runs again after it (libseccomp exempts it too).
            new(JeqK, 1, 0, uint.MaxValue),
            Ret(RetKillProcess),
        };
        if (defaultRet != RetAllow)
        {
            p.Add(new(JgtK, 0, 1, SeccompSyscalls.MaxKnown));
            p.Add(Ret(RetErrno | ENOSYS));
        }
        // One self-contained chunk per call: "if nr == N then (its rules) else fall through".
        var chunks = new List<Insn>(1024);
        var entries = new List<(int Nr, int Start, int Length)>();
        for (int nr = 0; nr < byNr.Length; nr++)
        {
            var rules = byNr[nr];
            if (rules is null) continue;
            int start = chunks.Count;
            if (rules[0].Args.Count == 0 && !rules.Exists(r => r.Args.Count > 0))
            {
                // The common case, one unconditional action: two instructions.
                chunks.Add(new(JeqK, 0, 1, (uint)nr));
                chunks.Add(Ret(rules[0].Ret));
            }
            else
            {
                // The conditional rules first, in order; the first unconditional one ends the block (later ones never match).
                var block = new List<Insn>();
                bool closed = false;
                foreach (var (ret, args) in rules)
                    if (args.Count > 0) EmitConditional(block, ret, args);
                foreach (var (ret, args) in rules)
                    if (args.Count == 0) { block.Add(Ret(ret)); closed = true; break; }
                if (!closed) block.Add(Ret(defaultRet)); // no rule matched: the block is entered only for this nr
                chunks.Add(new(JeqK, 1, 0, (uint)nr));
                chunks.Add(new(JmpJa, 0, 0, (uint)block.Count));
                chunks.AddRange(block);
            }
            entries.Add((nr, start, chunks.Count - start));
        }
        EmitTree(p, chunks, entries, 0, entries.Count, defaultRet);
        if (p.Count > MaxInstructions) throw new RtException($"linux.seccomp: the filter needs {p.Count} BPF instructions, more than the kernel's {MaxInstructions}");

        var bytes = new byte[p.Count * 8];
        for (int i = 0; i < p.Count; i++)
        {
            var s = bytes.AsSpan(i * 8, 8);
            BinaryPrimitives.WriteUInt16LittleEndian(s, p[i].Code);
            s[2] = p[i].Jt; s[3] = p[i].Jf;
            BinaryPrimitives.WriteUInt32LittleEndian(s[4..], p[i].K);
        }
        return new Result(bytes, flags, skipped);
    }

    /// <summary>Compiles the OCI JSON of a <c>linux.seccomp</c> section.</summary>
    public static Result Compile(System.Text.Json.JsonElement seccomp) => Compile(SeccompProfile.FromJson(seccomp));

    /// <summary>
    /// Dispatch on the call number as a binary search (≈ log2(calls) comparisons per system call instead of one per
    /// call in the profile): inner nodes are <c>jge #mid</c> with a 32-bit <c>ja</c> to the upper half (so no 8-bit
    /// jump offset can overflow); leaves of a few calls test them in turn and end with the default action.
    /// </summary>
    private static void EmitTree(List<Insn> p, List<Insn> chunks, List<(int Nr, int Start, int Length)> entries, int from, int to, uint defaultRet)
    {
        const int Leaf = 8;
        if (to - from <= Leaf)
        {
            for (int i = from; i < to; i++) p.AddRange(chunks.GetRange(entries[i].Start, entries[i].Length));
            p.Add(Ret(defaultRet));
            return;
        }
        int mid = (from + to) / 2;
        var lower = new List<Insn>();
        EmitTree(lower, chunks, entries, from, mid, defaultRet);
        p.Add(new(JgeK, 0, 1, (uint)entries[mid].Nr)); // nr >= mid → the ja; else skip it into the lower half
        p.Add(new(JmpJa, 0, 0, (uint)lower.Count));
        p.AddRange(lower);
        EmitTree(p, chunks, entries, mid, to, defaultRet);
    }

    /// <summary>Conditions on one index are alternatives: one rule per condition; otherwise one rule.</summary>
    private static IEnumerable<List<SeccompArg>> SplitAlternatives(List<SeccompArg> args)
    {
        Span<int> count = stackalloc int[6];
        foreach (var a in args) count[(int)a.Index]++;
        bool repeated = false;
        foreach (var c in count) repeated |= c > 1;
        if (!repeated) { yield return args; yield break; }
        foreach (var a in args) yield return [a];
    }

    /// <summary>
    /// Appends "if all of <paramref name="args"/> hold, return <paramref name="ret"/>", falling through otherwise.
    /// Each condition jumps to FAIL (the instruction after the ret) when false, and falls through when true.
    /// </summary>
    private static void EmitConditional(List<Insn> block, uint ret, List<SeccompArg> args)
    {
        var rule = new List<(Insn I, Target Jt, Target Jf)>();
        foreach (var a in args)
        {
            uint hiOff = OffArgs + a.Index * 8 + 4, loOff = OffArgs + a.Index * 8;
            uint vHi = (uint)(a.Value >> 32), vLo = (uint)a.Value;
            int start = rule.Count;
            // Targets: Next = the next condition (this one holds), Fail = skip the ret, Here = fall through.
            switch (a.Op)
            {
                case "SCMP_CMP_EQ":
                    rule.Add((Ld(hiOff), default, default)); rule.Add((new(JeqK, 0, 0, vHi), Target.Here, Target.Fail));
                    rule.Add((Ld(loOff), default, default)); rule.Add((new(JeqK, 0, 0, vLo), Target.Next, Target.Fail));
                    break;
                case "SCMP_CMP_NE":
                    rule.Add((Ld(hiOff), default, default)); rule.Add((new(JeqK, 0, 0, vHi), Target.Here, Target.Next));
                    rule.Add((Ld(loOff), default, default)); rule.Add((new(JeqK, 0, 0, vLo), Target.Fail, Target.Next));
                    break;
                case "SCMP_CMP_GT" or "SCMP_CMP_GE":
                    rule.Add((Ld(hiOff), default, default)); rule.Add((new(JgtK, 0, 0, vHi), Target.Next, Target.Here));
                    rule.Add((new(JeqK, 0, 0, vHi), Target.Here, Target.Fail));
                    rule.Add((Ld(loOff), default, default));
                    rule.Add((new(a.Op == "SCMP_CMP_GT" ? JgtK : JgeK, 0, 0, vLo), Target.Next, Target.Fail));
                    break;
                case "SCMP_CMP_LT" or "SCMP_CMP_LE":
                    rule.Add((Ld(hiOff), default, default)); rule.Add((new(JgtK, 0, 0, vHi), Target.Fail, Target.Here));
                    rule.Add((new(JeqK, 0, 0, vHi), Target.Here, Target.Next));
                    rule.Add((Ld(loOff), default, default));
                    // LT: fail when lo >= v; LE: fail when lo > v.
                    rule.Add((new(a.Op == "SCMP_CMP_LT" ? JgeK : JgtK, 0, 0, vLo), Target.Fail, Target.Next));
                    break;
                case "SCMP_CMP_MASKED_EQ":
                    uint dHi = (uint)(a.ValueTwo >> 32), dLo = (uint)a.ValueTwo;
                    rule.Add((Ld(hiOff), default, default)); rule.Add((new(AndK, 0, 0, vHi), default, default));
                    rule.Add((new(JeqK, 0, 0, dHi), Target.Here, Target.Fail));
                    rule.Add((Ld(loOff), default, default)); rule.Add((new(AndK, 0, 0, vLo), default, default));
                    rule.Add((new(JeqK, 0, 0, dLo), Target.Next, Target.Fail));
                    break;
                default: throw new RtException($"linux.seccomp: unknown operator \"{a.Op}\"");
            }
            int next = rule.Count; // index of the next condition's first instruction
            for (int i = start; i < rule.Count; i++)
            {
                var (ins, jt, jf) = rule[i];
                if (!IsJump(ins.Code)) continue;
                rule[i] = (ins, jt == Target.Next ? Target.Abs(next) : jt, jf == Target.Next ? Target.Abs(next) : jf);
            }
        }
        rule.Add((Ret(ret), default, default));
        int fail = rule.Count;
        for (int i = 0; i < rule.Count; i++)
        {
            var (ins, jt, jf) = rule[i];
            if (IsJump(ins.Code))
                ins = ins with { Jt = Offset(i, jt, fail), Jf = Offset(i, jf, fail) };
            block.Add(ins);
        }
    }

    private static byte Offset(int at, Target t, int fail)
    {
        int target = t.Kind switch { 1 => at + 1, 2 => fail, 3 => t.Index, _ => throw new InvalidOperationException("unresolved jump") };
        int off = target - at - 1;
        if (off is < 0 or > 255) throw new RtException("linux.seccomp: a rule has too many conditions");
        return (byte)off;
    }

    private static bool IsJump(ushort code) => (code & 0x07) == 0x05 && code != JmpJa;

    private readonly record struct Target(int Kind, int Index)
    {
        public static readonly Target Here = new(1, 0), Fail = new(2, 0), Next = new(4, 0);
        public static Target Abs(int i) => new(3, i);
    }

    private readonly record struct Insn(ushort Code, byte Jt, byte Jf, uint K);
    private static Insn Ld(uint offset) => new(LdAbsW, 0, 0, offset);
    private static Insn Ret(uint value) => new(RetK, 0, 0, value);
}
