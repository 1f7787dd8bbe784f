using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Containers;

/// <summary>
/// Resolves docker's <c>USER[:GROUP]</c> (names or numbers) against the image's <c>/etc/passwd</c> and
/// <c>/etc/group</c>. The files are read from the unpacked layers, top layer first, each opened with
/// <c>openat2(RESOLVE_IN_ROOT)</c> relative to the layer directory: a hostile symlink (<c>/etc -&gt; /</c>,
/// <c>passwd -&gt; ../../../etc/shadow</c>) resolves inside the layer and can never reach a host file.
/// </summary>
/// <remarks>Limitation: a whiteout of the file in an upper layer, or a symlink whose target lives in another layer,
/// is not followed across layers; the first layer that has the file wins.</remarks>
public static class UserDb
{
    private const int MaxFile = 4 << 20;

    /// <summary>The uid, gid and supplementary groups for <paramref name="spec"/> (empty/null: root).</summary>
    public static (uint Uid, uint Gid, List<uint> Groups) Resolve(string? spec, IReadOnlyList<string> layersTopFirst)
    {
        var (uid, gid, groups, _) = ResolveWithHome(spec, layersTopFirst);
        return (uid, gid, groups);
    }

    /// <summary>
    /// Like <see cref="Resolve"/>, plus the user's home directory from <c>/etc/passwd</c> — <c>/</c> when the user
    /// has no entry, as docker (runc's <c>GetExecUser</c>) defaults it.
    /// </summary>
    public static (uint Uid, uint Gid, List<uint> Groups, string Home) ResolveWithHome(string? spec, IReadOnlyList<string> layersTopFirst)
    {
        if (string.IsNullOrEmpty(spec)) spec = "0";
        var parts = spec.Split(':', 2);
        string user = parts[0], group = parts.Length > 1 ? parts[1] : "";
        if (user.Length == 0) throw new RtException($"invalid user \"{spec}\"");
        string? passwd = null, groups = null;
        uint uid, gid;
        string? userName = null;
        string home = "/";
        if (uint.TryParse(user, NumberStyles.None, CultureInfo.InvariantCulture, out uid))
        {
            passwd = ReadFile(layersTopFirst, "etc/passwd");
            gid = 0;
            foreach (var f in Entries(passwd))
                if (f.Length >= 4 && f[2] == user) { userName = f[0]; gid = Num(f[3], "passwd gid"); home = HomeOf(f); break; }
        }
        else
        {
            passwd = ReadFile(layersTopFirst, "etc/passwd") ?? throw new RtException($"unable to find user {user}: the image has no /etc/passwd");
            string[]? hit = null;
            foreach (var f in Entries(passwd)) if (f.Length >= 4 && f[0] == user) { hit = f; break; }
            if (hit is null) throw new RtException($"unable to find user {user}: no matching entries in the image's /etc/passwd");
            userName = user;
            uid = Num(hit[2], "passwd uid");
            gid = Num(hit[3], "passwd gid");
            home = HomeOf(hit);
        }
        if (group.Length > 0)
        {
            if (!uint.TryParse(group, NumberStyles.None, CultureInfo.InvariantCulture, out gid))
            {
                groups = ReadFile(layersTopFirst, "etc/group") ?? throw new RtException($"unable to find group {group}: the image has no /etc/group");
                string[]? hit = null;
                foreach (var f in Entries(groups)) if (f.Length >= 3 && f[0] == group) { hit = f; break; }
                if (hit is null) throw new RtException($"unable to find group {group}: no matching entries in the image's /etc/group");
                gid = Num(hit[2], "group gid");
            }
        }
        // Supplementary groups: those listing the user by name (as docker's getent-style lookup does).
        var extra = new List<uint>();
        if (userName is not null)
        {
            groups ??= ReadFile(layersTopFirst, "etc/group");
            foreach (var f in Entries(groups))
                if (f.Length >= 4 && Array.IndexOf(f[3].Split(','), userName) >= 0 &&
                    uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var g) && g != gid && !extra.Contains(g))
                    extra.Add(g);
        }
        return (uid, gid, extra, home);
    }

    private static string HomeOf(string[] passwdEntry) =>
        passwdEntry.Length >= 6 && passwdEntry[5].StartsWith('/') && !passwdEntry[5].Contains('\0') ? passwdEntry[5] : "/";

    private static uint Num(string s, string what) =>
        uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new RtException($"the image's {what} \"{s}\" is not a number");

    private static IEnumerable<string[]> Entries(string? file)
    {
        if (file is null) yield break;
        foreach (var line in file.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            yield return line.Split(':');
        }
    }

    /// <summary>Reads <paramref name="rel"/> from the first layer that has it, resolved inside each layer.</summary>
    internal static string? ReadFile(IReadOnlyList<string> layersTopFirst, string rel)
    {
        foreach (var layer in layersTopFirst)
        {
            int root = SysOpen(layer, OFlag.Path | OFlag.Directory | OFlag.Cloexec, 0);
            if (root < 0) throw Error("opening layer", layer);
            int fd;
            try { fd = SysOpenAt2(root, rel, OFlag.RdOnly | OFlag.Cloexec | OFlag.NonBlock, Linux.Libc.Resolve.InRoot | Linux.Libc.Resolve.NoMagicLinks); }
            finally { SysClose(root); }
            if (fd < 0)
            {
                if (Errno is Errno_.ENOENT or Errno_.ENOTDIR) continue;
                if (Errno == 40 /* ELOOP */) throw new RtException($"the image's /{rel} is a symlink loop");
                throw Error("opening " + rel + " in layer", layer);
            }
            using var h = new SafeFileHandle(fd, ownsHandle: true);
            using var fs = new FileStream(h, FileAccess.Read, 1);
            var buf = new byte[MaxFile];
            int n = 0, r;
            try
            {
                while (n < buf.Length && (r = fs.Read(buf, n, buf.Length - n)) > 0) n += r;
            }
            catch (IOException e) { throw new RtException($"reading the image's /{rel}: {e.Message}"); }
            catch (UnauthorizedAccessException e) { throw new RtException($"reading the image's /{rel}: {e.Message}"); }
            if (n == buf.Length) throw new RtException($"the image's /{rel} is larger than {MaxFile >> 20} MiB");
            return Encoding.UTF8.GetString(buf, 0, n);
        }
        return null;
    }
}
