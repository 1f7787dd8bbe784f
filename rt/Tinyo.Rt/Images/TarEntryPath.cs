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
    /// <summary>Longest path, in bytes, the unpacker accepts (PATH_MAX minus the NUL).</summary>
    public const int MaxPathBytes = 4095;

    /// <summary>Longest component, in bytes (NAME_MAX).</summary>
    public const int MaxNameBytes = 255;

    /// <summary>
    /// Normalises the raw bytes of a name (tar names are bytes, like Linux names; no UTF-8 is required): writes the
    /// clean path into <paramref name="dest"/> and returns its length (0 is the layer root), or -1 with
    /// <paramref name="problem"/> saying why the name is refused.
    /// </summary>
    public static int Normalize(ReadOnlySpan<byte> name, Span<byte> dest, out string? problem)
    {
        problem = null;
        if (name.IsEmpty)
        {
            problem = "empty name";
            return -1;
        }
        if (name.Contains((byte)0))
        {
            problem = "name contains a NUL byte";
            return -1;
        }
        int len = 0;
        int start = 0;
        while (start <= name.Length)
        {
            int slash = name[start..].IndexOf((byte)'/');
            int end = slash < 0 ? name.Length : start + slash;
            var part = name[start..end];
            start = end + 1;
            if (part.IsEmpty || part.SequenceEqual("."u8)) continue;
            if (part.SequenceEqual(".."u8))
            {
                if (len == 0)
                {
                    problem = "path climbs above the layer root ('..')";
                    return -1;
                }
                int prev = dest[..len].LastIndexOf((byte)'/');
                len = prev < 0 ? 0 : prev;
                continue;
            }
            if (part.Length > MaxNameBytes)
            {
                problem = $"a path component is longer than {MaxNameBytes} bytes";
                return -1;
            }
            int need = len + (len > 0 ? 1 : 0) + part.Length;
            if (need > MaxPathBytes || need > dest.Length)
            {
                problem = $"path longer than {MaxPathBytes} bytes";
                return -1;
            }
            if (len > 0) dest[len++] = (byte)'/';
            part.CopyTo(dest[len..]);
            len += part.Length;
        }
        return len;
    }
}
