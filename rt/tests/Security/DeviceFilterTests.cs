using Tinyo.Rt.Cgroups;
using Tinyo.Linux;
using Tinyo.Rt.Oci;
using static Tinyo.Rt.Cgroups.DeviceAccess;

namespace Tinyo.Rt.Tests.Security;

/// <summary>
/// The cgroup v2 device filter as a pure function: the rules a container gets, the instructions built from them,
/// and their decisions (run by <see cref="EbpfInterpreter"/>), plus the kernel's verifier accepting what is built.
/// </summary>
public sealed class DeviceFilterTests
{
    private static readonly DeviceAccess RW = Read | Write;

    private static DeviceRule Allow(char t, long ma, long mi, DeviceAccess a = All) => new(true, t, ma, mi, a);
    private static DeviceRule Deny(char t, long ma, long mi, DeviceAccess a = All) => new(false, t, ma, mi, a);

    private static ulong Decide(List<DeviceRule> rules, char type, DeviceAccess access, uint major, uint minor) =>
        EbpfInterpreter.Run(DeviceFilter.Build(rules), type, access, major, minor);

    [Fact]
    public void DefaultRulesAllowTheStandardNodesAndMknodButNoOtherOpen()
    {
        var rules = DeviceRules.For(DefaultSpec.Create(["true"]).Linux!.Resources);
        foreach (var (ma, mi) in new (uint, uint)[] { (1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, 0), (136, 77), (10, 200) })
        {
            Assert.Equal(1UL, Decide(rules, 'c', Read, ma, mi));
            Assert.Equal(1UL, Decide(rules, 'c', RW, ma, mi));
        }
        Assert.Equal(0UL, Decide(rules, 'b', Read, 8, 0));     // a disk
        Assert.Equal(0UL, Decide(rules, 'b', RW, 254, 0));
        Assert.Equal(0UL, Decide(rules, 'c', Read, 1, 1));     // /dev/mem
        Assert.Equal(0UL, Decide(rules, 'c', Write, 4, 1));    // a tty
        Assert.Equal(0UL, Decide(rules, 'b', Read, 1, 3));     // the type counts: a block 1:3 is not /dev/null
        Assert.Equal(1UL, Decide(rules, 'b', Mknod, 8, 0));    // mknod of anything, as Docker
        Assert.Equal(1UL, Decide(rules, 'c', Mknod, 1, 1));
    }

    [Fact]
    public void TheLastMatchingRuleDecides()
    {
        List<DeviceRule> rules = [Deny('a', -1, -1), Allow('c', -1, -1), Deny('c', 1, 3)];
        Assert.Equal(0UL, Decide(rules, 'c', Read, 1, 3));
        Assert.Equal(1UL, Decide(rules, 'c', Read, 1, 5));
        Assert.Equal(0UL, Decide(rules, 'b', Read, 1, 5));
        // And the other way round: a later allow re-opens what an earlier deny closed.
        rules = [Deny('a', -1, -1), Deny('c', 1, 3), Allow('c', 1, -1)];
        Assert.Equal(1UL, Decide(rules, 'c', RW, 1, 3));
    }

    [Fact]
    public void AnAllowNeedsEveryRequestedAccessADenyRefusesAnyOfItsOwn()
    {
        List<DeviceRule> rules = [Deny('a', -1, -1), Allow('c', 1, 3, Read)];
        Assert.Equal(1UL, Decide(rules, 'c', Read, 1, 3));
        Assert.Equal(0UL, Decide(rules, 'c', RW, 1, 3));   // O_RDWR needs w too
        Assert.Equal(0UL, Decide(rules, 'c', Mknod, 1, 3));
        rules = [Allow('a', -1, -1), Deny('c', 1, 3, Write)];
        Assert.Equal(1UL, Decide(rules, 'c', Read, 1, 3));
        Assert.Equal(0UL, Decide(rules, 'c', Write, 1, 3));
        Assert.Equal(0UL, Decide(rules, 'c', RW, 1, 3));   // an O_RDWR open must not slip past a deny of w
        Assert.Equal(1UL, Decide(rules, 'b', RW, 8, 0));
    }

    [Fact]
    public void WildcardMajorOrMinorMatchesAnyNumberUpTo32Bits()
    {
        List<DeviceRule> rules = [Deny('a', -1, -1), Allow('c', -1, 7), Allow('b', 0xFFFFFFFF, -1)];
        Assert.Equal(1UL, Decide(rules, 'c', Read, 99, 7));
        Assert.Equal(0UL, Decide(rules, 'c', Read, 99, 8));
        Assert.Equal(1UL, Decide(rules, 'b', Read, 0xFFFFFFFF, 12345));
        Assert.Equal(0UL, Decide(rules, 'b', Read, 0x7FFFFFFF, 12345));
    }

    [Fact]
    public void WithoutAnAllMatchingRuleTheDefaultIsToRefuse()
    {
        List<DeviceRule> rules = [Allow('c', 1, 3)];
        Assert.Equal(0UL, Decide(rules, 'c', Read, 1, 5));
        Assert.Equal(1UL, Decide(rules, 'c', Read, 1, 3));
    }

    [Fact]
    public void TheInstructionsAreExactlyTheseAndNothingFollowsAnUnconditionalRule()
    {
        // Read backwards: "allow c 1:3 rw" is tested first, "deny all" ends the program; the allow a rule before
        // it can never be reached and must not be emitted (the verifier refuses unreachable code).
        var code = DeviceFilter.Build([Allow('a', -1, -1), Deny('a', -1, -1), Allow('c', 1, 3, RW)]);
        ulong[] want =
        [
            DeviceFilter.Ins(DeviceFilter.LdxW, 2, 1, 0, 0),
            DeviceFilter.Ins(DeviceFilter.AluAndK, 2, 0, 0, 0xFFFF),
            DeviceFilter.Ins(DeviceFilter.LdxW, 3, 1, 0, 0),
            DeviceFilter.Ins(DeviceFilter.AluRshK, 3, 0, 0, 16),
            DeviceFilter.Ins(DeviceFilter.LdxW, 4, 1, 4, 0),
            DeviceFilter.Ins(DeviceFilter.LdxW, 5, 1, 8, 0),
            DeviceFilter.Ins(DeviceFilter.Jmp32JneK, 2, 0, 7, 2),      // not a char device: next rule (8 ahead)
            DeviceFilter.Ins(DeviceFilter.AluMovX, 1, 3, 0, 0),
            DeviceFilter.Ins(DeviceFilter.AluAndK, 1, 0, 0, 6),
            DeviceFilter.Ins(DeviceFilter.Jmp32JneX, 1, 3, 4, 0),      // wants more than rw: next rule
            DeviceFilter.Ins(DeviceFilter.Jmp32JneK, 4, 0, 3, 1),
            DeviceFilter.Ins(DeviceFilter.Jmp32JneK, 5, 0, 2, 3),
            DeviceFilter.Ins(DeviceFilter.AluMovK, 0, 0, 0, 1),
            DeviceFilter.Ins(DeviceFilter.Exit, 0, 0, 0, 0),
            DeviceFilter.Ins(DeviceFilter.AluMovK, 0, 0, 0, 0),        // deny all
            DeviceFilter.Ins(DeviceFilter.Exit, 0, 0, 0, 0),
        ];
        Assert.Equal(want.Length * 8, code.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(want[i] == BitConverter.ToUInt64(code, i * 8), $"instruction {i}: 0x{BitConverter.ToUInt64(code, i * 8):x16}, want 0x{want[i]:x16}");
        // struct bpf_insn's layout: the opcode byte, then dst in the low nibble and src in the high one.
        Assert.Equal(new byte[] { 0x5e, 0x31, 4, 0, 0, 0, 0, 0 }, code.AsSpan(9 * 8, 8).ToArray());
        Assert.Equal(new byte[] { 0x61, 0x14, 4, 0, 0, 0, 0, 0 }, code.AsSpan(4 * 8, 8).ToArray()); // r4 = *(u32 *)(r1 + 4)
        Assert.Equal(new byte[] { 0x56, 0x02, 7, 0, 2, 0, 0, 0 }, code.AsSpan(6 * 8, 8).ToArray()); // if w2 != 2 goto +7
    }

    [Fact]
    public void SpecRulesComeAfterDenyAllAndBeforeTheDefaultsAndV1GetsTheSameList()
    {
        var rules = DeviceRules.For(new SpecResources
        {
            Devices = [new SpecDeviceRule { Allow = false }, new SpecDeviceRule { Allow = true, Type = "b", Major = 8, Minor = -1, Access = "r" }],
        });
        Assert.Equal(["a", "a", "b 8:* r", "c *:* m", "b *:* m", "c 1:3 rwm"], rules.Take(6).Select(r => r.V1Text));
        Assert.Equal([false, false, true, true], rules.Take(4).Select(r => r.Allow));
        Assert.Equal("c 10:200 rwm", rules[^1].V1Text);
    }

    [Theory]
    [InlineData("x", "rwm", 1L, "type \"x\" must be a, b or c")]
    [InlineData("c", "rwx", 1L, "access \"rwx\" may only have the letters r, w and m")]
    [InlineData("c", "r", 0x1_0000_0000L, "major 4294967296 is out of range")]
    public void BadRulesAreClearErrorsNamingTheRule(string type, string access, long major, string message)
    {
        var e = Assert.Throws<RtException>(() => DeviceRules.For(new SpecResources
        {
            Devices = [new SpecDeviceRule { Allow = true, Type = "c", Major = 1, Minor = 3 }, new SpecDeviceRule { Allow = true, Type = type, Major = major, Minor = 1, Access = access }],
        }));
        Assert.Equal($"linux.resources.devices[1]: {message}", e.Message);
    }

    [Fact]
    public void TheKernelsVerifierAcceptsTheProgramsAndARefusalCarriesItsLog()
    {
        List<DeviceRule>[] lists =
        [
            DeviceRules.For(DefaultSpec.Create(["true"]).Linux!.Resources),
            [Allow('c', 1, 3, Read)],                                            // falls through to the default
            [Deny('a', -1, -1), Allow('c', -1, 7, Mknod), Deny('b', 8, -1, Write), Allow('b', 0xFFFFFFFF, 0xFFFFFFFF)],
        ];
        foreach (var rules in lists)
        {
            int fd = Libc.BpfProgLoad(Libc.BPF_PROG_TYPE_CGROUP_DEVICE, DeviceFilter.Build(rules), Libc.BPF_CGROUP_DEVICE, out var log);
            Assert.True(fd >= 0, $"BPF_PROG_LOAD: errno {Libc.Errno}: {log}");
            Libc.SysClose(fd);
        }
        // exit without setting r0: the verifier refuses, and says why.
        var bad = BitConverter.GetBytes(DeviceFilter.Ins(DeviceFilter.Exit, 0, 0, 0, 0));
        Assert.True(Libc.BpfProgLoad(Libc.BPF_PROG_TYPE_CGROUP_DEVICE, bad, Libc.BPF_CGROUP_DEVICE, out var why) < 0);
        Assert.Equal(13, Libc.Errno); // EACCES
        Assert.Contains("R0 !read_ok", why);
    }
}
