using System.Globalization;
using System.Text;

namespace Tinyo.Ctl.Setup;

/// <summary>
/// The unit files of one node (one root): <c>tinyokv.service</c> and <c>tinyonode.service</c> for the default root,
/// <c>tinyokv-HASH.service</c> and <c>tinyonode-HASH.service</c> for any other, HASH being 8 hex digits of the root's
/// path — so nodes with different roots and ports coexist, and the usual one has the names an admin expects
/// (<c>journalctl -u tinyonode</c>). Each file starts with a comment naming its root; a file without it is not ours
/// and is never rewritten or removed.
/// </summary>
public sealed class SystemdUnits(NodeLayout layout, string unitDir = SystemdUnits.DefaultUnitDir)
{
    /// <summary>Where administrators' units live (and where <c>systemctl enable</c> puts its links).</summary>
    public const string DefaultUnitDir = "/etc/systemd/system";

    /// <summary>The layout.</summary>
    public NodeLayout Layout => layout;

    /// <summary>The unit directory.</summary>
    public string UnitDir => unitDir;

    /// <summary>The unit's name, e.g. <c>tinyonode-1a2b3c4d.service</c>.</summary>
    public string UnitName(string component)
        => layout.Root == NodeLayout.DefaultRoot ? component + ".service" : $"{component}-{RootHash(layout.Root)}.service";

    /// <summary>The unit file's path.</summary>
    public string UnitPath(string component) => Path.Combine(unitDir, UnitName(component));

    /// <summary>The first line of our units: names the root, so a file is recognised as this node's.</summary>
    public string Marker => $"# Written by `tio ++` for the Tinyo node at {layout.Root}; `tio down --remove-units` deletes it.";

    /// <summary>True when the unit file exists and is this node's.</summary>
    public bool Installed(string component)
    {
        try
        {
            using var r = new StreamReader(UnitPath(component));
            return r.ReadLine() == Marker;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }

    /// <summary>
    /// Writes the unit unless it already has exactly this text (atomically: a temp file renamed over it). True when
    /// the file changed (then <c>systemctl daemon-reload</c> is due). A unit of that name that is not ours is refused.
    /// </summary>
    public bool Write(UnitSpec spec)
    {
        var path = UnitPath(spec.Component);
        var text = Render(spec);
        if (File.Exists(path))
        {
            var old = File.ReadAllText(path);
            if (old == text) return false;
            if (!old.StartsWith(Marker + "\n", StringComparison.Ordinal))
                throw new CtlException($"{path} exists and was not written by tio for {layout.Root}: remove it or use another --root");
        }
        Directory.CreateDirectory(unitDir);
        var tmp = path + ".tio-tmp";
        File.WriteAllText(tmp, text);
        if (OperatingSystem.IsLinux())
            File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        File.Move(tmp, path, overwrite: true);
        return true;
    }

    /// <summary>Deletes the unit file if it is ours; true when it did.</summary>
    public bool Remove(string component)
    {
        if (!Installed(component)) return false;
        File.Delete(UnitPath(component));
        return true;
    }

    /// <summary>The unit file's text.</summary>
    public string Render(UnitSpec spec)
    {
        CheckPrintable(layout.Root, "the root path");
        var after = spec.After.Count == 0 ? "" : " " + string.Join(' ', spec.After);
        var sb = new StringBuilder();
        sb.Append(Marker).Append('\n');
        sb.Append("[Unit]\n");
        sb.Append("Description=Tinyo ").Append(spec.Component).Append(" (").Append(Specifiers(layout.Root)).Append(")\n");
        // network.target only orders us after the network is configured at boot; it pulls in nothing.
        sb.Append("After=network.target").Append(after).Append('\n');
        if (spec.After.Count > 0) sb.Append("Wants=").Append(string.Join(' ', spec.After)).Append('\n');
        sb.Append('\n');
        sb.Append("[Service]\n");
        // exec: `systemctl start` fails when the binary cannot be executed, instead of reporting a start that died.
        sb.Append("Type=exec\n");
        sb.Append("ExecStart=").Append(string.Join(' ', spec.Command.Select((a, i) => ExecArg(a, executable: i == 0)))).Append('\n');
        foreach (var (k, v) in spec.Environment.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            CheckPrintable(k + v, $"the variable {k}");
            sb.Append("Environment=").Append(Quote(Specifiers(k + "=" + v))).Append('\n');
        }
        sb.Append("Restart=on-failure\n");
        sb.Append("RestartSec=1s\n");
        if (spec.KeepChildren)
        {
            // The containers are this daemon's children. On a cgroup v1 or hybrid host they stay in the unit's cgroup
            // of systemd's own tracking hierarchy (the runtime moves them into tinyo/ID of the controller hierarchies
            // only), and the default KillMode=control-group would kill them whenever the node stops or crashes —
            // also before a Restart=. With KillMode=process a crash or `kill -9` of the node leaves them running for
            // the restarted node to re-adopt, exactly as in the process mode; a clean stop (SIGTERM) stops them
            // through the node itself.
            sb.Append("KillMode=process\n");
        }
        sb.Append('\n');
        sb.Append("[Install]\n");
        sb.Append("WantedBy=multi-user.target\n");
        return sb.ToString();
    }

    /// <summary>8 hex digits of FNV-1a 64 over the root's UTF-8 bytes: stable across runs and machines.</summary>
    public static string RootHash(string root)
    {
        var h = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(root))
        {
            h ^= b;
            h *= 1099511628211UL;
        }
        return ((uint)(h ^ (h >> 32))).ToString("x8", CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// One ExecStart word: as is when it has only plain characters, else double-quoted with C escapes. <c>%</c>
    /// (specifiers) is doubled, and <c>$</c> (variable expansion, which systemd applies to the arguments but not to
    /// the executable's path) in arguments.
    /// </summary>
    public static string ExecArg(string arg, bool executable = false)
    {
        CheckPrintable(arg, $"the argument '{arg}'");
        var escaped = Specifiers(arg);
        if (!executable) escaped = escaped.Replace("$", "$$", StringComparison.Ordinal);
        if (arg.Length > 0 && arg.All(c => char.IsAsciiLetterOrDigit(c) || "/._:@=,+-%$".Contains(c))) return escaped;
        if (arg == ";") return "\\;";
        return Quote(escaped);
    }

    private static string Quote(string s)
        => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static string Specifiers(string s) => s.Replace("%", "%%", StringComparison.Ordinal);

    private static void CheckPrintable(string s, string what)
    {
        foreach (var c in s)
            if (char.IsControl(c))
                throw new CtlException($"{what} contains a control character: it cannot go into a systemd unit");
    }
}
