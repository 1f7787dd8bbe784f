using static Tinyo.Linux.Libc;
using static Tinyo.Rt.Processes.SyscallScript;

namespace Tinyo.Rt.Setup;

/// <summary>The uts namespace's host or domain name.</summary>
internal sealed class HostnameStep(string name, bool host) : SetupStep, IRowStep
{
    public override string Name => (host ? "hostname " : "domainname ") + name;

    public void Emit(RowContext ctx) =>
        ctx.S.Add((host ? "sethostname " : "setdomainname ") + name, host ? SYS_sethostname : SYS_setdomainname,
            ctx.S.Str(name), System.Text.Encoding.UTF8.GetByteCount(name));

    public override void Apply(InitContext ctx) => ctx.Calls.SetName(name, host);
}

/// <summary>A new network namespace's <c>lo</c> up (a fresh one has only IFF_LOOPBACK).</summary>
internal sealed unsafe class LoopbackStep : SetupStep, IRowStep
{
    public override string Name => "lo up";

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        // SIOCSIFFLAGS changes only the settable flags.
        var req = (IfReq*)s.Block(sizeof(IfReq));
        req->Name[0] = (byte)'l'; req->Name[1] = (byte)'o';
        req->Flags = IFF_UP | 0x8 /* IFF_LOOPBACK */;
        int sock = s.Open("socket", SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        s.Add("bringing lo up", SYS_ioctl, sock, (long)SIOCSIFFLAGS, (long)req);
        s.Close(sock);
    }

    public override void Apply(InitContext ctx) => ctx.Calls.LoopbackUp();
}

/// <summary>A <c>linux.sysctl</c> entry, written under /proc/sys (init only).</summary>
internal sealed class SysctlStep(string key, string value) : SetupStep
{
    public override string Name => $"sysctl {key}={value}";
    public override string Reason => "sysctls";

    public override void Apply(InitContext ctx)
    {
        try { ctx.Calls.WriteProcFile("/proc/sys/" + key.Replace('.', '/'), value); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new RtException($"sysctl {key}={value}: {e.Message}"); }
    }
}

/// <summary><c>process.oomScoreAdj</c> (init only).</summary>
internal sealed class OomScoreAdjStep(int adj) : SetupStep
{
    public override string Name => "oom_score_adj " + adj.ToString(System.Globalization.CultureInfo.InvariantCulture);
    public override string Reason => "oomScoreAdj";

    public override void Apply(InitContext ctx)
    {
        try { ctx.Calls.WriteProcFile("/proc/self/oom_score_adj", adj.ToString(System.Globalization.CultureInfo.InvariantCulture)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new RtException($"oom_score_adj {adj}: {e.Message}"); }
    }
}
