using System.Buffers.Binary;

namespace Tinyo.Rt.Cgroups;

/// <summary>
/// Compiles device rules into a <c>BPF_PROG_TYPE_CGROUP_DEVICE</c> eBPF program: what enforces
/// <c>linux.resources.devices</c> on cgroup v2, which has no <c>devices</c> controller files.
/// </summary>
/// <remarks>
/// <para>The kernel runs the program on every open and mknod of a device node by a task of the cgroup, with
/// <c>struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }</c> in r1, where access_type is
/// <c>(access &lt;&lt; 16) | type</c> (type 1 block, 2 char; access 1 mknod, 2 read, 4 write); it returns 1 to
/// allow, 0 to refuse (EPERM).</para>
/// <para>Semantics, as crun and youki: the rules apply in order and the last one that matches decides, so the
/// program tests them from the last to the first and the first match returns. An allow rule matches a request whose
/// accesses are all among the rule's (opening read-write needs a rule with both r and w, as in v1); a deny rule
/// matches a request that needs any of its accesses (a deny of w also refuses an O_RDWR open). Nothing matched: the
/// rule list starts with "deny all", so that is the default. Where v1's exception list differs (there a later deny
/// of one device does not punch a hole in an earlier wildcard allow), v2 is the stricter of the two.</para>
/// <para>Registers: r2 type, r3 access, r4 major, r5 minor, r1 scratch. Compares are 32-bit (JMP32), so majors and
/// minors up to 2^32-1 compare as unsigned. Rules after one that matches every request are unreachable and are not
/// emitted (the verifier refuses unreachable instructions).</para>
/// </remarks>
public static class DeviceFilter
{
    /// <summary>eBPF opcodes used here.</summary>
    internal const byte LdxW = 0x61, AluAndK = 0x54, AluRshK = 0x74, AluMovK = 0xb4, AluMovX = 0xbc,
        Jmp32JneK = 0x56, Jmp32JneX = 0x5e, Jmp32JeqK = 0x16, Exit = 0x95;

    /// <summary>BPF_DEVCG_DEV_BLOCK and BPF_DEVCG_DEV_CHAR.</summary>
    internal const int DevBlock = 1, DevChar = 2;

    /// <summary>Builds the program for <paramref name="rules"/> (in the order they take effect): 8-byte instructions.</summary>
    public static byte[] Build(IReadOnlyList<DeviceRule> rules)
    {
        var p = new List<ulong>(6 + rules.Count * 7 + 2)
        {
            Ins(LdxW, 2, 1, 0, 0),        // r2 = ctx->access_type
            Ins(AluAndK, 2, 0, 0, 0xFFFF),// w2 &= 0xffff: the type
            Ins(LdxW, 3, 1, 0, 0),        // r3 = ctx->access_type
            Ins(AluRshK, 3, 0, 0, 16),    // w3 >>= 16: the access
            Ins(LdxW, 4, 1, 4, 0),        // r4 = ctx->major
            Ins(LdxW, 5, 1, 8, 0),        // r5 = ctx->minor
        };
        bool endsUnconditionally = false;
        var block = new List<(byte Op, byte Dst, byte Src, int Imm, bool Jump)>(7);
        for (int i = rules.Count - 1; i >= 0; i--)
        {
            var r = rules[i];
            block.Clear();
            if (r.Type != 'a') block.Add((Jmp32JneK, 2, 0, r.Type == 'b' ? DevBlock : DevChar, true));
            if (r.Access != DeviceAccess.All)
            {
                block.Add((AluMovX, 1, 3, 0, false));       // w1 = access
                block.Add((AluAndK, 1, 0, (int)r.Access, false)); // w1 &= rule's access
                if (r.Allow) block.Add((Jmp32JneX, 1, 3, 0, true)); // not all of the request is granted: next rule
                else block.Add((Jmp32JeqK, 1, 0, 0, true));         // none of the request is denied: next rule
            }
            if (r.Type != 'a' && r.Major >= 0) block.Add((Jmp32JneK, 4, 0, unchecked((int)(uint)r.Major), true));
            if (r.Type != 'a' && r.Minor >= 0) block.Add((Jmp32JneK, 5, 0, unchecked((int)(uint)r.Minor), true));
            int len = block.Count + 2;
            for (int k = 0; k < block.Count; k++)
            {
                var (op, dst, src, imm, jump) = block[k];
                p.Add(Ins(op, dst, src, jump ? (short)(len - k - 1) : (short)0, imm));
            }
            p.Add(Ins(AluMovK, 0, 0, 0, r.Allow ? 1 : 0));
            p.Add(Ins(Exit, 0, 0, 0, 0));
            if (block.Count == 0) { endsUnconditionally = true; break; }
        }
        if (!endsUnconditionally)
        {
            p.Add(Ins(AluMovK, 0, 0, 0, 0)); // nothing matched: refuse
            p.Add(Ins(Exit, 0, 0, 0, 0));
        }
        var bytes = new byte[p.Count * 8];
        for (int i = 0; i < p.Count; i++) BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 8), p[i]);
        return bytes;
    }

    /// <summary>One instruction (struct bpf_insn: code, dst:4|src:4, off, imm) as a little-endian 64-bit word.</summary>
    internal static ulong Ins(byte op, byte dst, byte src, short off, int imm) =>
        op | (ulong)(byte)((src << 4) | dst) << 8 | (ulong)(ushort)off << 16 | (ulong)(uint)imm << 32;
}
