using Tinyo.Rt.Oci;
using Tinyo.Rt.Security;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Setup;

/// <summary>
/// The parent-compiled seccomp filter. Without no_new_privs, loading needs CAP_SYS_ADMIN, so it goes on before the
/// capabilities are dropped; with it, last before exec (runc's order), so it constrains only the program. The filter
/// must allow what follows it: execve, and for init a write to report a failure.
/// </summary>
internal sealed unsafe class SeccompStep(byte[] program, uint flags, bool late) : SetupStep, IRowStep
{
    public override string Name => late ? "seccomp (last)" : "seccomp (before the capability drop)";

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        var f = s.Block(program.Length);
        program.CopyTo(new Span<byte>((void*)f, program.Length));
        var fprog = (ulong*)s.Block(16); // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
        fprog[0] = (ushort)(program.Length / 8);
        fprog[1] = (ulong)f;
        s.Add("loading the seccomp filter", SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, (long)fprog);
    }

    public override void Apply(InitContext ctx) => ctx.Calls.LoadSeccomp(program, flags);
}

/// <summary>Drops from the bounding set what the spec leaves out.</summary>
internal sealed class BoundingSetStep(CapabilitySets caps) : SetupStep, IRowStep
{
    public override string Name => "bounding set";

    public void Emit(RowContext ctx)
    {
        int last = CapabilitySets.LastCap();
        for (int i = 0; i <= last; i++)
            if ((caps.Bounding & (1UL << i)) == 0)
                ctx.S.Add($"dropping {(i < CapabilitySets.Names.Length ? CapabilitySets.Names[i] : i.ToString(System.Globalization.CultureInfo.InvariantCulture))} from the bounding set",
                    SYS_prctl, PR_CAPBSET_DROP, i);
    }

    public override void Apply(InitContext ctx) => ctx.Calls.DropBounding(caps);
}

/// <summary>Groups, gid, uid — with <paramref name="keepCaps"/>, the permitted set survives the uid change so the
/// spec's sets can be installed next (a container); an exec'd process of a non-root user gets none (docker's exec).</summary>
internal sealed unsafe class IdsStep(SpecUser user, bool keepCaps) : SetupStep, IRowStep
{
    public override string Name => $"user {user.Uid}:{user.Gid}";

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        if (keepCaps) s.Add("prctl(PR_SET_KEEPCAPS)", SYS_prctl, PR_SET_KEEPCAPS, 1);
        var groups = user.AdditionalGids ?? [];
        var gids = (uint*)s.Block(groups.Count * 4);
        for (int i = 0; i < groups.Count; i++) gids[i] = groups[i];
        s.Add("setgroups", SYS_setgroups, groups.Count, (long)gids);
        s.Add($"setresgid {user.Gid}", SYS_setresgid, user.Gid, user.Gid, user.Gid);
        s.Add($"setresuid {user.Uid}", SYS_setresuid, user.Uid, user.Uid, user.Uid);
        if (keepCaps) s.Add("prctl(PR_SET_KEEPCAPS)", SYS_prctl, PR_SET_KEEPCAPS, 0);
    }

    public override void Apply(InitContext ctx) => ctx.Calls.SetIds(user, keepCaps);
}

/// <summary>
/// The spec's effective, permitted and inheritable sets, never more than the caller holds (the child's sets are the
/// parent's: read with capget now), then the ambient ones. An exec (<paramref name="forExec"/>) only narrows root's
/// sets, and leaves the ambient set alone, as it did before the plan existed.
/// </summary>
internal sealed unsafe class CapabilitiesStep(CapabilitySets caps, bool forExec = false) : SetupStep, IRowStep
{
    public override string Name => "capabilities";

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        var hdr = (CapHeader*)s.Block(sizeof(CapHeader));
        hdr->Version = LINUX_CAPABILITY_VERSION_3;
        var cur = stackalloc CapData[2];
        if (Capget(hdr, cur) != 0) throw Error("capget");
        hdr->Version = LINUX_CAPABILITY_VERSION_3;
        hdr->Pid = 0;
        ulong have = cur[0].Permitted | ((ulong)cur[1].Permitted << 32);
        ulong haveInh = cur[0].Inheritable | ((ulong)cur[1].Inheritable << 32);
        ulong perm = caps.Permitted & have, eff = caps.Effective & perm,
            inh = forExec ? caps.Inheritable & have : caps.Inheritable & (have | haveInh);
        var d = (CapData*)s.Block(2 * sizeof(CapData));
        d[0] = new CapData { Effective = (uint)eff, Permitted = (uint)perm, Inheritable = (uint)inh };
        d[1] = new CapData { Effective = (uint)(eff >> 32), Permitted = (uint)(perm >> 32), Inheritable = (uint)(inh >> 32) };
        s.Add("capset", SYS_capset, (long)hdr, (long)d);
        if (forExec) return;
        s.Add("clearing ambient capabilities", SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        ulong amb = caps.Ambient & perm & inh;
        int last = CapabilitySets.LastCap();
        for (int i = 0; i <= last; i++)
            if ((amb & (1UL << i)) != 0) s.Add("raising ambient " + CapabilitySets.Names[i], SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0);
    }

    public override void Apply(InitContext ctx) => ctx.Calls.ApplyCapabilities(caps);
}

/// <summary>prctl(PR_SET_NO_NEW_PRIVS).</summary>
internal sealed class NoNewPrivsStep : SetupStep, IRowStep
{
    public override string Name => "no_new_privs";
    public void Emit(RowContext ctx) => ctx.S.Add("prctl(PR_SET_NO_NEW_PRIVS)", SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    public override void Apply(InitContext ctx) => ctx.Calls.SetNoNewPrivs();
}
