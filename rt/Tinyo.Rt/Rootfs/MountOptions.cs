using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Rootfs;

/// <summary>mount(8)-style options of a spec mount split into mount(2) flags, propagation flags and filesystem data.</summary>
public sealed class MountOptions
{
    /// <summary>Flags for the mount call itself.</summary>
    public ulong Flags { get; private set; }
    /// <summary>Flags cleared by an option (for example <c>rw</c>, <c>suid</c>), relevant to bind remounts.</summary>
    public ulong Cleared { get; private set; }
    /// <summary>Propagation flags applied after mounting (<c>rprivate</c>, <c>shared</c>, …).</summary>
    public List<ulong> Propagation { get; } = [];
    /// <summary>Filesystem-specific data (<c>mode=755,size=65536k</c>), comma-joined.</summary>
    public string? Data { get; private set; }
    /// <summary>A bind mount (<c>bind</c> or <c>rbind</c>).</summary>
    public bool Bind => (Flags & MS_BIND) != 0;
    /// <summary>Read-only.</summary>
    public bool ReadOnly => (Flags & MS_RDONLY) != 0;
    /// <summary>Read-only all the way down: a read-only recursive bind (<c>rbind,ro</c>) or <c>rro</c>. A remount
    /// changes only the top mount, so filesystems mounted below the source would stay writable (runc's and crun's
    /// <c>rro</c>: mount_setattr with AT_RECURSIVE).</summary>
    public bool RecursiveReadOnly => _rro || (ReadOnly && (Flags & (MS_BIND | MS_REC)) == (MS_BIND | MS_REC));
    private bool _rro;

    private static readonly Dictionary<string, (bool Clear, ulong Flag)> Known = new()
    {
        ["ro"] = (false, MS_RDONLY), ["rw"] = (true, MS_RDONLY), ["nosuid"] = (false, MS_NOSUID), ["suid"] = (true, MS_NOSUID),
        ["nodev"] = (false, MS_NODEV), ["dev"] = (true, MS_NODEV), ["noexec"] = (false, MS_NOEXEC), ["exec"] = (true, MS_NOEXEC),
        ["sync"] = (false, MS_SYNCHRONOUS), ["async"] = (true, MS_SYNCHRONOUS), ["dirsync"] = (false, MS_DIRSYNC),
        ["remount"] = (false, MS_REMOUNT), ["mand"] = (false, MS_MANDLOCK), ["nomand"] = (true, MS_MANDLOCK),
        ["atime"] = (true, MS_NOATIME), ["noatime"] = (false, MS_NOATIME), ["diratime"] = (true, MS_NODIRATIME),
        ["nodiratime"] = (false, MS_NODIRATIME), ["bind"] = (false, MS_BIND), ["rbind"] = (false, MS_BIND | MS_REC),
        ["relatime"] = (false, MS_RELATIME), ["norelatime"] = (true, MS_RELATIME), ["strictatime"] = (false, MS_STRICTATIME),
        ["nostrictatime"] = (true, MS_STRICTATIME), ["lazytime"] = (false, MS_LAZYTIME), ["nolazytime"] = (true, MS_LAZYTIME),
        ["nosymfollow"] = (false, MS_NOSYMFOLLOW), ["symfollow"] = (true, MS_NOSYMFOLLOW),
        ["defaults"] = (false, 0),
    };

    private static readonly Dictionary<string, ulong> PropagationFlags = new()
    {
        ["private"] = MS_PRIVATE, ["rprivate"] = MS_PRIVATE | MS_REC, ["shared"] = MS_SHARED, ["rshared"] = MS_SHARED | MS_REC,
        ["slave"] = MS_SLAVE, ["rslave"] = MS_SLAVE | MS_REC, ["unbindable"] = MS_UNBINDABLE, ["runbindable"] = MS_UNBINDABLE | MS_REC,
    };

    /// <summary>Parses the options; unknown words are passed to the filesystem as data.</summary>
    public static MountOptions Parse(IEnumerable<string>? options)
    {
        var o = new MountOptions();
        List<string>? data = null;
        foreach (var opt in options ?? [])
        {
            if (opt == "rro") { o.Flags |= MS_RDONLY; o._rro = true; }
            else if (Known.TryGetValue(opt, out var k))
            {
                if (k.Clear) { o.Flags &= ~k.Flag; o.Cleared |= k.Flag; } else o.Flags |= k.Flag;
            }
            else if (PropagationFlags.TryGetValue(opt, out var p)) o.Propagation.Add(p);
            else if (opt.Length > 0)
            {
                if (opt.Contains('\0')) throw new RtException("mount option has a NUL byte");
                (data ??= []).Add(opt);
            }
        }
        o.Data = data is null ? null : string.Join(',', data);
        return o;
    }

    /// <summary>Propagation flags of <c>linux.rootfsPropagation</c>; rslave when unset (nothing leaks to the host).</summary>
    public static ulong RootPropagation(string? name) =>
        string.IsNullOrEmpty(name) ? MS_SLAVE | MS_REC : PropagationFlags[name];
}
