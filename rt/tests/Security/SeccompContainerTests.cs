using System.Text.Json;
using Tinyo.Rt.Oci;
using Tinyo.Rt.Security;
using Tinyo.Rt.Tests.Runtime;

namespace Tinyo.Rt.Tests.Security;

/// <summary>seccomp in real containers: the default profile is loaded and enforced, custom rules with arguments
/// behave, unknown names are skipped, bad profiles fail clearly and leave nothing behind.</summary>
[Collection("containers")]
[Trait("Category", "Security")]
public sealed class SeccompContainerTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    private static TestBundle ProbeBundle(params string[] attempts)
    {
        var b = new TestBundle(["/bin/probe", .. attempts]);
        Probe.InstallInto(b);
        return b;
    }

    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    /// <summary>Docker's default profile plus <paramref name="extraRules"/> (JSON objects), as a spec element.</summary>
    private static JsonElement DockerDefaultWith(params string[] extraRules)
    {
        var p = SeccompProfiles.DockerDefault(CapabilitySets.DockerDefault);
        foreach (var r in extraRules) p.Syscalls.Add(SeccompProfile.FromJson(Json($$"""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{r}}]}""")).Syscalls[0]);
        return p.ToJsonElement();
    }

    [Fact]
    public void DefaultSpecCarriesDockersProfile()
    {
        var spec = DefaultSpec.Create(["sh"]);
        var fromSpec = SeccompCompiler.Compile(spec.Linux!.Seccomp!.Value);
        Assert.Equal(SeccompCompiler.Compile(SeccompProfiles.DockerDefault(CapabilitySets.DockerDefault)).Program, fromSpec.Program);
        Assert.Equal("SCMP_ACT_ERRNO", spec.Linux.Seccomp.Value.GetProperty("defaultAction").GetString());
    }

    [Fact]
    public void DefaultProfileIsEnforcedInTheContainer()
    {
        using var b = ProbeBundle("seccomp_status", "getpid", "fork", "personality=0", "personality=0x40000", "unshare_user", "keyctl", "bpf");
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Contains("Seccomp:\t2\n", output); // filter mode
        var r = Probe.Parse(output);
        Assert.StartsWith("ok", r["getpid"]);
        Assert.Equal("ok", r["fork"]);
        Assert.Equal("blocked (EPERM)", r["unshare_user"]);
        Assert.Equal("blocked (EPERM)", r["keyctl"]);
        Assert.Equal("blocked (EPERM)", r["bpf"]);
        // personality is allowed for 0 and refused for ADDR_NO_RANDOMIZE by an argument rule (the output keeps the first line).
        Assert.Equal("ok", r["personality"]);
        Assert.Contains("personality: blocked (EPERM)", output);
    }

    [Fact]
    public void ProfileIsLoadedWithoutNoNewPrivilegesToo()
    {
        // Without no_new_privs loading needs CAP_SYS_ADMIN: init loads it before dropping capabilities.
        using var b = ProbeBundle("seccomp_status", "keyctl", "getpid");
        b.Spec.Process!.NoNewPrivileges = false;
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Contains("Seccomp:\t2\n", output);
        Assert.Contains("NoNewPrivs:\t0\n", output);
        Assert.Equal("blocked (EPERM)", Probe.Parse(output)["keyctl"]);
    }

    [Fact]
    public void CustomRuleWithArgumentsAndErrno()
    {
        using var b = ProbeBundle("personality=0x40000", "personality=0", "keyctl");
        b.Spec.Linux!.Seccomp = DockerDefaultWith(
            """{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":93,"args":[{"index":0,"value":262144,"op":"SCMP_CMP_EQ"}]}""",
            """{"names":["add_key","no_such_call_anywhere"],"action":"SCMP_ACT_ERRNO","errnoRet":95}""");
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Contains("personality: blocked (EPROTONOSUPPORT)\npersonality: ok\n", output);
        // The unknown name was skipped; the known one in the same rule applies.
        Assert.Equal("blocked (EOPNOTSUPP)", Probe.Parse(output)["keyctl"]);
    }

    [Fact]
    public void KillProcessActionKillsWithSigsys()
    {
        using var b = ProbeBundle("fork", "getpid");
        b.Spec.Linux!.Seccomp = Json("""{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_KILL_PROCESS"}]}""");
        var (st, output) = _h.Run(b);
        Assert.Equal(31, st.Signal); // SIGSYS
        Assert.Equal("fork: ok\n", output);
    }

    [Theory]
    [InlineData("x32")]
    [InlineData("int80")]
    public void OtherSyscallAbisAreKilled(string attempt)
    {
        // Calls through the x32 numbering or the i386 ABI (int $0x80) would be judged by the wrong table: the filter
        // kills the process instead (SIGSYS), before the call reaches the kernel.
        using var b = ProbeBundle("getpid", attempt, "getpid");
        var (st, output) = _h.Run(b);
        Assert.Equal(31, st.Signal);
        Assert.Equal("getpid: ok (1)\n", output);
    }

    [Fact]
    public void SpecCommandWritesTheDefaultProfile()
    {
        var dir = Directory.CreateTempSubdirectory("tinyo-spec-").FullName;
        try
        {
            var psi = new System.Diagnostics.ProcessStartInfo(ContainerHarness.Binary.Path, ["spec", "--bundle", dir, "--", "sh"]);
            using (var p = System.Diagnostics.Process.Start(psi)!) { p.WaitForExit(); Assert.Equal(0, p.ExitCode); }
            var spec = Bundle.Parse(File.ReadAllBytes(Path.Combine(dir, "config.json")));
            var r = SeccompCompiler.Compile(spec.Linux!.Seccomp!.Value);
            Assert.Equal(SeccompCompiler.Compile(SeccompProfiles.DockerDefault(CapabilitySets.DockerDefault)).Program, r.Program);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void BadProfileFailsClearlyAndLeavesNothing()
    {
        using var b = new TestBundle("true");
        b.Spec.Linux!.Seccomp = Json("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_PERHAPS"}]}""");
        var id = ContainerHarness.NewId("badsec");
        _h.Track(id);
        var e = Assert.Throws<RtException>(() => _h.Runtime().Run(id, b.Write()));
        Assert.Contains("config.json: linux.seccomp.syscalls[0].action: unknown action \"SCMP_ACT_PERHAPS\"", e.Message);
        _h.AssertGone(id, b);
    }
}
