namespace Tinyo.Node.Network;

/// <summary>Which paths are mount points now (<c>/proc/self/mountinfo</c>): a replica's namespace file is live only
/// while its bind mount is there (a reboot or <c>tio down</c> leaves at most the empty file).</summary>
internal static class NetnsMounts
{
    /// <summary>The mount points of the node's mount namespace (octal escapes such as <c>\040</c> decoded).</summary>
    public static HashSet<string> Read()
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var f = line.Split(' ');
            if (f.Length > 4) set.Add(Unescape(f[4]));
        }
        return set;
    }

    private static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var sb = new System.Text.StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length && s[i + 1] is >= '0' and <= '3')
            {
                sb.Append((char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0')));
                i += 3;
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }
}
