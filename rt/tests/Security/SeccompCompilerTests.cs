using System.Text.Json;
using Tinyo.Rt.Security;

namespace Tinyo.Rt.Tests.Security;

/// <summary>The seccomp compiler's programs, run through <see cref="BpfInterpreter"/>: exact decisions per call and
/// argument, without loading anything into the kernel.</summary>
[Trait("Category", "Security")]
public sealed class SeccompCompilerTests
{
    private const uint Allow = SeccompCompiler.RetAllow, Eperm = SeccompCompiler.RetErrno | 1, Enosys = SeccompCompiler.RetErrno | 38,
        KillProcess = SeccompCompiler.RetKillProcess;

    // x86-64 numbers.
    private const int Read = 0, Socket = 41, Clone = 56, Personality = 135, Chroot = 161, Mount = 165, Keyctl = 250,
        Unshare = 272, Bpf = 321, Clone3 = 435, InitModule = 175, Ptrace = 101, Setns = 308, Execve = 59;

    private static byte[] Docker(params string[] extraCaps) =>
        SeccompCompiler.Compile(SeccompProfiles.DockerDefault([.. CapabilitySets.DockerDefault, .. extraCaps])).Program;

    private static SeccompCompiler.Result Compile(string json) =>
        SeccompCompiler.Compile(JsonDocument.Parse(json).RootElement);

    [Fact]
    public void DockerDefaultAllowsOrdinaryCallsAndRefusesPrivilegedOnes()
    {
        var p = Docker();
        Assert.Equal(Allow, BpfInterpreter.Run(p, Read));
        Assert.Equal(Allow, BpfInterpreter.Run(p, Execve));
        Assert.Equal(Allow, BpfInterpreter.Run(p, Ptrace)); // kernel ≥ 4.8: ptrace can no longer bypass seccomp
        Assert.Equal(Allow, BpfInterpreter.Run(p, Chroot)); // CAP_SYS_CHROOT is a default capability
        foreach (var nr in new[] { Mount, Keyctl, Unshare, Bpf, InitModule, Setns })
            Assert.Equal(Eperm, BpfInterpreter.Run(p, nr));
    }

    [Fact]
    public void EveryCallNumberGetsItsRulesAction()
    {
        // Exhaustive over the table: the search-tree dispatch must reach every call's rule and nothing else.
        var profile = SeccompProfiles.DockerDefault(CapabilitySets.DockerDefault);
        var expected = new Dictionary<int, uint>();
        var conditional = new HashSet<int>();
        foreach (var rule in profile.Syscalls)
            foreach (var name in rule.Names)
                if (SeccompSyscalls.TryGetNumber(name, out int nr))
                {
                    if (rule.Args.Count > 0) conditional.Add(nr);
                    else expected.TryAdd(nr, SeccompCompiler.ActionCode(rule.Action, rule.ErrnoRet));
                }
        var p = SeccompCompiler.Compile(profile).Program;
        for (int nr = 0; nr <= SeccompSyscalls.MaxKnown; nr++)
        {
            if (conditional.Contains(nr)) continue;
            Assert.True((expected.TryGetValue(nr, out var want) ? want : Eperm) == BpfInterpreter.Run(p, nr), $"call {nr}");
        }
    }

    [Fact]
    public void DockerDefaultCloneMayNotCreateNamespacesAndClone3FallsBack()
    {
        var p = Docker();
        const ulong SIGCHLD = 17, CLONE_THREAD_FLAGS = 0x3d0f00, CLONE_NEWUSER = 0x10000000, CLONE_NEWNS = 0x20000;
        Assert.Equal(Allow, BpfInterpreter.Run(p, Clone, [SIGCHLD]));
        Assert.Equal(Allow, BpfInterpreter.Run(p, Clone, [CLONE_THREAD_FLAGS]));
        Assert.Equal(Eperm, BpfInterpreter.Run(p, Clone, [SIGCHLD | CLONE_NEWUSER]));
        Assert.Equal(Eperm, BpfInterpreter.Run(p, Clone, [CLONE_NEWNS]));
        Assert.Equal(Enosys, BpfInterpreter.Run(p, Clone3));
    }

    [Fact]
    public void DockerDefaultFollowsCapabilities()
    {
        var p = Docker("CAP_SYS_ADMIN");
        Assert.Equal(Allow, BpfInterpreter.Run(p, Mount));
        Assert.Equal(Allow, BpfInterpreter.Run(p, Unshare));
        Assert.Equal(Allow, BpfInterpreter.Run(p, Clone, [0x10000000]));
        Assert.Equal(Allow, BpfInterpreter.Run(p, Clone3));
        Assert.Equal(Eperm, BpfInterpreter.Run(p, InitModule)); // CAP_SYS_MODULE is still missing
        Assert.Equal(Eperm, BpfInterpreter.Run(p, Keyctl));      // never allowed
        var none = SeccompCompiler.Compile(SeccompProfiles.DockerDefault([])).Program;
        Assert.Equal(Eperm, BpfInterpreter.Run(none, Chroot));
    }

    [Fact]
    public void DockerDefaultArgumentRules()
    {
        var p = Docker();
        Assert.Equal(Allow, BpfInterpreter.Run(p, Socket, [2 /* AF_INET */, 1, 0]));
        Assert.Equal(Eperm, BpfInterpreter.Run(p, Socket, [40 /* AF_VSOCK */, 1, 0]));
        Assert.Equal(Allow, BpfInterpreter.Run(p, Personality, [0]));
        Assert.Equal(Allow, BpfInterpreter.Run(p, Personality, [0xffffffff]));
        Assert.Equal(Eperm, BpfInterpreter.Run(p, Personality, [0x0040000 /* ADDR_NO_RANDOMIZE */]));
        Assert.Equal(Eperm, BpfInterpreter.Run(p, Personality, [0x1_00000000])); // the high half counts too
    }

    [Fact]
    public void OtherAbisAreKilledAndUnknownNewCallsGetEnosys()
    {
        var p = Docker();
        Assert.Equal(KillProcess, BpfInterpreter.Run(p, Read, arch: 0x40000003 /* AUDIT_ARCH_I386 */));
        Assert.Equal(KillProcess, BpfInterpreter.Run(p, 0x40000000 | Read)); // x32
        Assert.Equal(KillProcess, BpfInterpreter.Run(p, unchecked((int)0xfffffffe)));
        Assert.Equal(Enosys, BpfInterpreter.Run(p, -1)); // a tracer skipping the call: not killed
        Assert.Equal(Enosys, BpfInterpreter.Run(p, 600));
        // With an ALLOW default, unknown calls stay allowed.
        var allow = Compile("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO"}]}""").Program;
        Assert.Equal(Allow, BpfInterpreter.Run(allow, 600));
        Assert.Equal(Eperm, BpfInterpreter.Run(allow, Mount));
    }

    [Fact]
    public void ActionsAndErrnoValuesAreEncoded()
    {
        var r = Compile("""
        {"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13,"syscalls":[
          {"names":["getpid"],"action":"SCMP_ACT_KILL"},
          {"names":["getppid"],"action":"SCMP_ACT_KILL_PROCESS"},
          {"names":["getuid"],"action":"SCMP_ACT_TRAP"},
          {"names":["getgid"],"action":"SCMP_ACT_LOG"},
          {"names":["geteuid"],"action":"SCMP_ACT_TRACE","errnoRet":7},
          {"names":["getegid"],"action":"SCMP_ACT_ERRNO","errnoRet":95},
          {"names":["read"],"action":"SCMP_ACT_ALLOW"}]}
        """);
        Assert.Equal(SeccompCompiler.RetKillThread, BpfInterpreter.Run(r.Program, 39));
        Assert.Equal(KillProcess, BpfInterpreter.Run(r.Program, 110));
        Assert.Equal(SeccompCompiler.RetTrap, BpfInterpreter.Run(r.Program, 102));
        Assert.Equal(SeccompCompiler.RetLog, BpfInterpreter.Run(r.Program, 104));
        Assert.Equal(SeccompCompiler.RetTrace | 7, BpfInterpreter.Run(r.Program, 107));
        Assert.Equal(SeccompCompiler.RetErrno | 95, BpfInterpreter.Run(r.Program, 108));
        Assert.Equal(Allow, BpfInterpreter.Run(r.Program, Read));
        Assert.Equal(SeccompCompiler.RetErrno | 13, BpfInterpreter.Run(r.Program, 1));
    }

    private static readonly ulong[] Interesting =
        [0, 1, 5, 7, 0x7fffffff, 0x80000000, 0xffffffff, 0x1_00000000, 0x1_00000005, 0x5_00000005, 0x5_00000000,
         0x7fffffff_ffffffff, 0x80000000_00000000, ulong.MaxValue, 0xffffffff_00000000];

    [Theory]
    [InlineData("SCMP_CMP_EQ")] [InlineData("SCMP_CMP_NE")] [InlineData("SCMP_CMP_LT")] [InlineData("SCMP_CMP_LE")]
    [InlineData("SCMP_CMP_GT")] [InlineData("SCMP_CMP_GE")] [InlineData("SCMP_CMP_MASKED_EQ")]
    public void ComparisonsAreExact64Bit(string op)
    {
        foreach (var v in Interesting)
            foreach (var two in op == "SCMP_CMP_MASKED_EQ" ? new ulong[] { 0, 5, 0x1_00000000, v } : [0])
            {
                var program = Compile($$"""
                {"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO",
                  "args":[{"index":2,"value":{{v}},"valueTwo":{{two}},"op":"{{op}}"}]}]}
                """).Program;
                foreach (var arg in Interesting)
                {
                    bool holds = op switch
                    {
                        "SCMP_CMP_EQ" => arg == v, "SCMP_CMP_NE" => arg != v, "SCMP_CMP_LT" => arg < v,
                        "SCMP_CMP_LE" => arg <= v, "SCMP_CMP_GT" => arg > v, "SCMP_CMP_GE" => arg >= v,
                        _ => (arg & v) == two,
                    };
                    var got = BpfInterpreter.Run(program, Personality, [0, 0, arg]);
                    Assert.True((holds ? Eperm : Allow) == got, $"{op} value {v:x} two {two:x} arg {arg:x}: got {got:x}");
                    // The other arguments do not matter, and other calls are not affected.
                    Assert.Equal(got, BpfInterpreter.Run(program, Personality, [ulong.MaxValue, 3, arg, 9, 9, 9]));
                    Assert.Equal(Allow, BpfInterpreter.Run(program, Read, [0, 0, arg]));
                }
            }
    }

    [Fact]
    public void ConditionsOnDifferentArgumentsAreAndedOnTheSameArgumentOred()
    {
        var and = Compile("""
        {"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["socket"],"action":"SCMP_ACT_ERRNO",
          "args":[{"index":0,"value":16,"op":"SCMP_CMP_EQ"},{"index":2,"value":9,"op":"SCMP_CMP_EQ"}]}]}
        """).Program;
        Assert.Equal(Eperm, BpfInterpreter.Run(and, Socket, [16, 3, 9]));
        Assert.Equal(Allow, BpfInterpreter.Run(and, Socket, [16, 3, 0]));
        Assert.Equal(Allow, BpfInterpreter.Run(and, Socket, [2, 3, 9]));
        var or = Compile("""
        {"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["socket"],"action":"SCMP_ACT_ERRNO",
          "args":[{"index":0,"value":16,"op":"SCMP_CMP_EQ"},{"index":0,"value":17,"op":"SCMP_CMP_EQ"}]}]}
        """).Program;
        Assert.Equal(Eperm, BpfInterpreter.Run(or, Socket, [16]));
        Assert.Equal(Eperm, BpfInterpreter.Run(or, Socket, [17]));
        Assert.Equal(Allow, BpfInterpreter.Run(or, Socket, [2]));
    }

    [Fact]
    public void ConditionalRulesComeBeforeTheUnconditionalOneOfTheSameCall()
    {
        // An unconditional rule listed first must not hide a more specific one (libseccomp's precedence).
        var p = Compile("""
        {"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
          {"names":["personality"],"action":"SCMP_ACT_ALLOW"},
          {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":22,"args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}
        """).Program;
        Assert.Equal(SeccompCompiler.RetErrno | 22, BpfInterpreter.Run(p, Personality, [8]));
        Assert.Equal(Allow, BpfInterpreter.Run(p, Personality, [0]));
    }

    [Fact]
    public void UnknownNamesAreSkippedAndReported()
    {
        var r = Compile("""
        {"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","chown32","no_such_call"],"action":"SCMP_ACT_ALLOW"}]}
        """);
        Assert.Equal(["chown32", "no_such_call"], r.Skipped);
        Assert.Equal(Allow, BpfInterpreter.Run(r.Program, Read));
        Assert.Contains("chown32", SeccompCompiler.Compile(SeccompProfiles.DockerDefault([])).Skipped);
    }

    [Fact]
    public void JsonRoundTripCompilesToTheSameProgram()
    {
        var profile = SeccompProfiles.DockerDefault(CapabilitySets.DockerDefault);
        var again = SeccompProfile.FromJson(profile.ToJsonElement());
        Assert.Equal(SeccompCompiler.Compile(profile).Program, SeccompCompiler.Compile(again).Program);
        Assert.InRange(SeccompCompiler.Compile(profile).Length, 100, 1500);
    }

    [Theory]
    [InlineData("""[]""", "must be an object")]
    [InlineData("""{}""", "defaultAction is missing")]
    [InlineData("""{"defaultAction":"SCMP_ACT_NOPE"}""", "unknown action \"SCMP_ACT_NOPE\"")]
    [InlineData("""{"defaultAction":"SCMP_ACT_NOTIFY"}""", "not supported")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":-1}""", "defaultErrnoRet: must be a non-negative integer")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":70000}""", "out of range")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_Z80"]}""", "unknown architecture \"SCMP_ARCH_Z80\"")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_BOGUS"]}""", "unknown flag")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/x.sock"}""", "listeners are not supported")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":{"names":["read"]}}""", "syscalls: must be an array")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[],"action":"SCMP_ACT_ERRNO"}]}""", "syscalls[0].names is empty")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"]}]}""", "syscalls[0].action is missing")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}""", "index 6 is out of range")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_XX"}]}]}""", "unknown operator \"SCMP_CMP_XX\"")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"value":1,"op":"SCMP_CMP_EQ"}]}]}""", "args[0].index is missing")]
    [InlineData("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[1],"action":"SCMP_ACT_ERRNO"}]}""", "names[0]: must be a string")]
    public void BadProfilesAreNamed(string json, string expected)
    {
        var e = Assert.Throws<RtException>(() => Compile(json));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("linux.seccomp", e.Message);
    }
}
