using System.Buffers.Binary;

namespace Tinyo.Rt.Tests.Security;

/// <summary>
/// A classic-BPF interpreter for seccomp programs, enough for what <see cref="Rt.Security.SeccompCompiler"/> emits
/// (and strict about anything else), so tests check the filter's decisions exactly without loading it.
/// </summary>
internal static class BpfInterpreter
{
    public const uint ArchX86_64 = 0xC000003E;

    public static uint Run(byte[] program, int nr, ulong[]? args = null, uint arch = ArchX86_64)
    {
        Span<byte> data = stackalloc byte[64];
        BinaryPrimitives.WriteInt32LittleEndian(data, nr);
        BinaryPrimitives.WriteUInt32LittleEndian(data[4..], arch);
        for (int i = 0; i < 6; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(data[(16 + 8 * i)..], args is not null && i < args.Length ? args[i] : 0);
        int n = program.Length / 8;
        Assert.True(n is > 0 and <= 4096, $"program length {n}");
        uint a = 0;
        int pc = 0, steps = 0;
        while (true)
        {
            Assert.True(pc >= 0 && pc < n, $"pc {pc} out of the program");
            Assert.True(++steps <= n, "loop"); // classic BPF only jumps forward
            var ins = program.AsSpan(pc * 8, 8);
            ushort code = BinaryPrimitives.ReadUInt16LittleEndian(ins);
            byte jt = ins[2], jf = ins[3];
            uint k = BinaryPrimitives.ReadUInt32LittleEndian(ins[4..]);
            pc++;
            switch (code)
            {
                case 0x20: // ld [k]
                    Assert.True(k % 4 == 0 && k <= 60, $"load offset {k}");
                    a = BinaryPrimitives.ReadUInt32LittleEndian(data[(int)k..]);
                    break;
                case 0x54: a &= k; break;                        // and #k
                case 0x05: pc += (int)k; break;                  // ja
                case 0x15: pc += a == k ? jt : jf; break;        // jeq #k
                case 0x25: pc += a > k ? jt : jf; break;         // jgt #k
                case 0x35: pc += a >= k ? jt : jf; break;        // jge #k
                case 0x45: pc += (a & k) != 0 ? jt : jf; break;  // jset #k
                case 0x06: return k;                             // ret #k
                default: Assert.Fail($"unexpected BPF opcode 0x{code:x} at {pc - 1}"); return 0;
            }
        }
    }
}
