namespace Tinyo.Rt.Images;

/// <summary>
/// Lexical normalisation of the path of a tar entry (or a hardlink's target) into a clean path relative to the layer
/// root: no leading <c>/</c>, no empty, <c>.</c> or <c>..</c> components, no trailing <c>/</c>.
/// </summary>
/// <remarks>
/// Policy, matching Docker and containerd: an absolute name is taken relative to the layer root (<c>/etc/passwd</c>
/// is <c>etc/passwd</c>), and <c>..</c> is resolved lexically (<c>a/../b</c> is <c>b</c>). A name whose <c>..</c>
/// climbs above the root is an error (Docker's "breakout"), as is a NUL byte or a component longer than NAME_MAX.
/// Symlinks are never consulted here; the unpacker resolves the result component by component with openat2 and
/// refuses symlinks on the way.
/// </remarks>
internal static class TarEntryPath
{
    /// <summary>Longest path, in UTF-8 bytes, the unpacker accepts (PATH_MAX minus the NUL).</summary>
    public const int MaxPathBytes = 4095;

    /// <summary>Longest component, in UTF-8 bytes (NAME_MAX).</summary>
    public const int MaxNameBytes = 255;

    /// <summary>
    /// Normalises <paramref name="name"/>. Returns the clean relative path (<c>""</c> is the layer root), or
    /// <c>null</c> with <paramref name="problem"/> saying why the name is refused.
    /// </summary>
    public static string? Normalize(string name, out string? problem)
    {
        problem = null;
        if (name.Length == 0)
        {
            problem = "empty name";
            return null;
        }
        if (name.Contains('\0'))
        {
            problem = "name contains a NUL byte";
            return null;
        }
        if (IsClean(name)) return CheckLengths(name, out problem) ? name : null;

        // Slow path: split and rebuild.
        var parts = new List<string>();
        foreach (var range in name.AsSpan().Split('/'))
        {
            var part = name[range];
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                if (parts.Count == 0)
                {
                    problem = "path climbs above the layer root ('..')";
                    return null;
                }
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part);
        }
        var clean = string.Join('/', parts);
        return CheckLengths(clean, out problem) ? clean : null;
    }

    // True when the name has no leading or trailing '/', no "//", and no "." or ".." component.
    private static bool IsClean(string s)
    {
        if (s[0] == '/' || s[^1] == '/') return false;
        int start = 0;
        for (int i = 0; i <= s.Length; i++)
        {
            if (i == s.Length || s[i] == '/')
            {
                int len = i - start;
                if (len == 0) return false;
                if (s[start] == '.' && (len == 1 || (len == 2 && s[start + 1] == '.'))) return false;
                start = i + 1;
            }
        }
        return true;
    }

    private static bool CheckLengths(string clean, out string? problem)
    {
        problem = null;
        // Cheap upper bound first: a UTF-16 char is at most 3 UTF-8 bytes.
        if (clean.Length * 3 <= MaxNameBytes) return true;
        if (System.Text.Encoding.UTF8.GetByteCount(clean) > MaxPathBytes)
        {
            problem = $"path longer than {MaxPathBytes} bytes";
            return false;
        }
        foreach (var range in clean.AsSpan().Split('/'))
        {
            if (System.Text.Encoding.UTF8.GetByteCount(clean.AsSpan(range)) > MaxNameBytes)
            {
                problem = $"a path component is longer than {MaxNameBytes} bytes";
                return false;
            }
        }
        return true;
    }
}
