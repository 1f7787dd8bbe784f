using System.Buffers.Binary;

namespace Tinyo.Rt.Network.Direct;

/// <summary>
/// Writes eBPF bytecode from C#: the few instructions the socket shortcut's programs use, with forward jumps to named
/// labels resolved at the end. No clang at build or run time; what the verifier sees is exactly what is written here.
/// </summary>
/// <remarks>Registers: r0 return value, r1–r5 helper arguments (clobbered by calls), r6–r9 kept across calls, r10 the
/// read-only frame pointer (the stack is the 512 bytes below it).</remarks>
internal sealed class BpfAssembler
{
    private readonly List<ulong> code = new(64);
    private readonly Dictionary<string, int> labels = [];
    private readonly List<(int At, string Label)> jumps = [];

    /// <summary>r0–r10.</summary>
    public const byte R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5, R6 = 6, R7 = 7, R10 = 10;

    /// <summary>Marks the next instruction as <paramref name="name"/>'s target.</summary>
    public void Label(string name) => labels[name] = code.Count;

    /// <summary>dst = *(u32 *)(src + off).</summary>
    public void LoadWord(byte dst, byte src, short off) => Emit(0x61, dst, src, off, 0);

    /// <summary>*(u32 *)(dst + off) = src.</summary>
    public void StoreWord(byte dst, short off, byte src) => Emit(0x63, dst, src, off, 0);

    /// <summary>*(u32 *)(dst + off) = imm.</summary>
    public void StoreWordImm(byte dst, short off, int imm) => Emit(0x62, dst, 0, off, imm);

    /// <summary>dst = imm (64-bit).</summary>
    public void Mov(byte dst, int imm) => Emit(0xb7, dst, 0, 0, imm);

    /// <summary>dst = src (64-bit).</summary>
    public void MovReg(byte dst, byte src) => Emit(0xbf, dst, src, 0, 0);

    /// <summary>dst += imm (64-bit).</summary>
    public void Add(byte dst, int imm) => Emit(0x07, dst, 0, 0, imm);

    /// <summary>dst &amp;= imm (32-bit, upper half cleared).</summary>
    public void And32(byte dst, int imm) => Emit(0x54, dst, 0, 0, imm);

    /// <summary>dst &gt;&gt;= imm (32-bit logical).</summary>
    public void Rsh32(byte dst, int imm) => Emit(0x74, dst, 0, 0, imm);

    /// <summary>dst = htobe16(dst): on this little-endian machine a swap of the low 16 bits, the rest cleared.</summary>
    public void ToBigEndian16(byte dst) => Emit(0xdc, dst, 0, 0, 16);

    /// <summary>if dst == imm goto label.</summary>
    public void JumpIfEqual(byte dst, int imm, string label) => Jump(0x15, dst, imm, label);

    /// <summary>if dst != imm goto label.</summary>
    public void JumpIfNotEqual(byte dst, int imm, string label) => Jump(0x55, dst, imm, label);

    /// <summary>if (u32)dst != (u32)imm goto label: compares the low halves only, so no sign extension of imm.</summary>
    public void JumpIfNotEqual32(byte dst, int imm, string label) => Jump(0x56, dst, imm, label);

    /// <summary>goto label.</summary>
    public void Goto(string label) => Jump(0x05, 0, 0, label);

    /// <summary>Calls helper number <paramref name="helper"/> (enum bpf_func_id).</summary>
    public void Call(int helper) => Emit(0x85, 0, 0, 0, helper);

    /// <summary>Returns r0.</summary>
    public void Exit() => Emit(0x95, 0, 0, 0, 0);

    /// <summary>dst = the map behind descriptor <paramref name="mapFd"/> (ld_imm64 with BPF_PSEUDO_MAP_FD; two slots).</summary>
    public void LoadMap(byte dst, int mapFd)
    {
        Emit(0x18, dst, 1, 0, mapFd);
        Emit(0, 0, 0, 0, 0);
    }

    /// <summary>lock *(u64 *)(dst + off) += src: an atomic add, so counters stay right on every CPU at once.</summary>
    public void AtomicAdd64(byte dst, short off, byte src) => Emit(0xdb, dst, src, off, 0);

    /// <summary>The program: 8-byte little-endian struct bpf_insn each.</summary>
    /// <exception cref="InvalidOperationException">A jump names a label never placed, or jumps backwards (the verifier refuses loops here).</exception>
    public byte[] Build()
    {
        foreach (var (at, label) in jumps)
        {
            if (!labels.TryGetValue(label, out int target) || target <= at)
                throw new InvalidOperationException($"eBPF jump at {at} to label '{label}' that is not placed after it");
            code[at] |= (ulong)(ushort)(short)(target - at - 1) << 16;
        }
        var bytes = new byte[code.Count * 8];
        for (int i = 0; i < code.Count; i++) BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 8), code[i]);
        return bytes;
    }

    private void Jump(byte op, byte dst, int imm, string label)
    {
        jumps.Add((code.Count, label));
        Emit(op, dst, 0, 0, imm);
    }

    private void Emit(byte op, byte dst, byte src, short off, int imm) =>
        code.Add(op | (ulong)(byte)((src << 4) | dst) << 8 | (ulong)(ushort)off << 16 | (ulong)(uint)imm << 32);
}
