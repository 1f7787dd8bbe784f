using System.Buffers.Binary;
using Tinyo.Rt.Cgroups;

namespace Tinyo.Rt.Tests.Security;

/// <summary>
/// Runs a <see cref="DeviceFilter"/> program on one device request, strict about everything the builder should not
/// emit (unknown opcodes, backward or out-of-range jumps, reads of registers never written, falling off the end),
/// so the tests check the filter's decisions without the kernel.
/// </summary>
internal static class EbpfInterpreter
{
    /// <summary>1 (allow) or 0 (refuse) for a request of <paramref name="access"/> on <paramref name="type"/> (b/c) major:minor.</summary>
    public static ulong Run(byte[] program, char type, DeviceAccess access, uint major, uint minor)
    {
        Assert.True(program.Length % 8 == 0 && program.Length > 0, "program length");
        int n = program.Length / 8;
        var reg = new ulong[11];
        var set = new bool[11];
        set[1] = true; // r1 = ctx
        uint accessType = (uint)access << 16 | (uint)(type == 'b' ? 1 : 2);
        int pc = 0;
        for (int steps = 0; ; steps++)
        {
            Assert.True(pc >= 0 && pc < n, $"pc {pc} outside the program");
            Assert.True(steps <= n, "a loop");
            ulong w = BinaryPrimitives.ReadUInt64LittleEndian(program.AsSpan(pc * 8));
            byte op = (byte)w;
            int dst = (int)(w >> 8) & 0xF, src = (int)(w >> 12) & 0xF;
            short off = (short)(w >> 16);
            int imm = (int)(w >> 32);
            pc++;
            uint Src() { Assert.True(set[src], $"r{src} read before written"); return (uint)reg[src]; }
            uint Dst() { Assert.True(set[dst], $"r{dst} read before written"); return (uint)reg[dst]; }
            switch (op)
            {
                case DeviceFilter.LdxW:
                    Assert.Equal(1, src);
                    reg[dst] = off switch { 0 => accessType, 4 => major, 8 => minor, _ => throw new Xunit.Sdk.XunitException($"ctx offset {off}") };
                    set[dst] = true;
                    break;
                case DeviceFilter.AluAndK: reg[dst] = Dst() & (uint)imm; break;
                case DeviceFilter.AluRshK: reg[dst] = Dst() >> imm; break;
                case DeviceFilter.AluMovK: reg[dst] = (uint)imm; set[dst] = true; break;
                case DeviceFilter.AluMovX: reg[dst] = Src(); set[dst] = true; break;
                case DeviceFilter.Jmp32JneK: Assert.True(off > 0, "jump back"); if (Dst() != (uint)imm) pc += off; break;
                case DeviceFilter.Jmp32JeqK: Assert.True(off > 0, "jump back"); if (Dst() == (uint)imm) pc += off; break;
                case DeviceFilter.Jmp32JneX: Assert.True(off > 0, "jump back"); if (Dst() != Src()) pc += off; break;
                case DeviceFilter.Exit:
                    Assert.True(set[0], "r0 unset at exit");
                    return reg[0];
                default: throw new Xunit.Sdk.XunitException($"opcode 0x{op:x2} at {pc - 1}");
            }
        }
    }
}
