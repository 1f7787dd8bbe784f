using static Tinyo.Linux.Libc;
using static Tinyo.Rt.Processes.SyscallScript;
using static Tinyo.Rt.Setup.RootfsRows;

namespace Tinyo.Rt.Setup;

/// <summary>
/// Masked and read-only paths are resolved after pivot_root. The rows must know a masked path's kind (tmpfs over a
/// directory, /dev/null over a file) when the parent writes them: under /proc and /sys the container sees what the
/// host sees (same kernel), so the host answers; anything else only init can look at.
/// </summary>
internal static class HostKind
{
    /// <summary>Whether <paramref name="path"/> is a directory, read on the host; null when the host cannot tell.</summary>
    public static bool? Of(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2 || parts[0] is not ("proc" or "sys") || parts.Contains("..")) return null;
        if (parts[0] == "proc" && (parts[1] is "self" or "thread-self" || char.IsAsciiDigit(parts[1][0]))) return null;
        return Directory.Exists(path);
    }
}

/// <summary>A masked path (missing ones are skipped).</summary>
internal sealed class MaskStep(string path) : SetupStep, IRowStep
{
    private const ulong MaskFlags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    public override string Name => "mask " + path;
    public string? DirectDecline => HostKind.Of(path) is null ? "masked path outside /proc and /sys" : null;

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        bool dir = HostKind.Of(path) == true;
        int fd = s.Open("masking " + path, SYS_openat2, AT_FDCWD_, s.Str(path), How(s, OPath | OCloexec), 24, ok: Ok(Errno_.ENOENT), skip: 2);
        if (dir) s.Add("masking " + path, SYS_mount, s.Str("tmpfs"), s.FdPath(fd), s.Str("tmpfs"), (long)MaskFlags, s.Str("size=0,mode=000"));
        else s.Add("masking " + path, SYS_mount, s.Str("/dev/null"), s.FdPath(fd), 0, (long)MS_BIND, 0);
        s.Close(fd);
    }

    public override void Apply(InitContext ctx) => ctx.Calls.Mask(path);
}

/// <summary>A read-only path: bound over itself, then remounted read-only, nosuid, nodev, noexec (missing: skipped).</summary>
internal sealed class ReadonlyPathStep(string path) : SetupStep, IRowStep
{
    public override string Name => "read-only " + path;
    public string? DirectDecline => HostKind.Of(path) is null ? "read-only path outside /proc and /sys" : null;

    public void Emit(RowContext ctx)
    {
        var s = ctx.S;
        int fd = s.Open("making read-only " + path, SYS_openat2, AT_FDCWD_, s.Str(path), How(s, OPath | OCloexec), 24, ok: Ok(Errno_.ENOENT), skip: 5);
        s.Add("bind-mounting " + path, SYS_mount, s.FdPath(fd), s.FdPath(fd), 0, (long)(MS_BIND | MS_REC), 0);
        s.Close(fd);
        int fd2 = s.Open("reopening " + path, SYS_openat2, AT_FDCWD_, s.Str(path), How(s, OPath | OCloexec), 24);
        s.Add("remounting read-only " + path, SYS_mount, 0, s.FdPath(fd2), 0, (long)(MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC), 0);
        s.Close(fd2);
    }

    public override void Apply(InitContext ctx) => ctx.Calls.MakeReadonly(path);
}

/// <summary><c>root.readonly</c>.</summary>
internal sealed class ReadonlyRootStep : SetupStep, IRowStep
{
    public override string Name => "read-only /";
    public void Emit(RowContext ctx) => ctx.S.Add("remounting / read-only", SYS_mount, 0, ctx.S.Str("/"), 0, (long)(MS_REMOUNT | MS_BIND | MS_RDONLY), 0);
    public override void Apply(InitContext ctx) => ctx.Calls.RemountRootReadonly();
}

/// <summary><c>linux.rootfsPropagation</c> other than the rslave every container starts with.</summary>
internal sealed class RootPropagationStep(ulong flags) : SetupStep, IRowStep
{
    public override string Name => "rootfs propagation 0x" + flags.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
    public void Emit(RowContext ctx) => ctx.S.Add("setting rootfs propagation", SYS_mount, 0, ctx.S.Str("/"), 0, (long)flags, 0);
    public override void Apply(InitContext ctx) => ctx.Calls.SetRootPropagation(flags);
}
