using System.Text.RegularExpressions;

namespace Tinyo.Api.Statefile;

/// <summary>
/// The grammar of an image reference (<c>[host[:port]/]path[:tag][@sha256:hex]</c>), as the distribution spec and
/// the runtime's <c>ImageReference</c> define it, checked where the statefile is read so that a name such as
/// <c>../../etc/passwd</c> is refused with its position at apply instead of failing later in the pull.
/// </summary>
public static partial class ImageName
{
    /// <summary>Longest reference accepted (the runtime's limit).</summary>
    public const int MaxLength = 512;

    /// <summary>Null when <paramref name="s"/> is a valid reference, else what is wrong with it.</summary>
    public static string? Problem(string s)
    {
        if (s.Length == 0) return "is empty";
        if (s.Length > MaxLength) return $"is longer than {MaxLength} characters";
        foreach (var c in s)
            if (c <= ' ' || c >= 0x7f) return "contains a space, control or non-ASCII character";
        var rest = s;
        var at = rest.IndexOf('@');
        if (at >= 0)
        {
            if (!DigestRegex().IsMatch(rest[(at + 1)..])) return "has an invalid digest (sha256: and 64 lowercase hex digits)";
            rest = rest[..at];
        }
        var slash = rest.LastIndexOf('/');
        var colon = rest.LastIndexOf(':');
        if (colon > slash)
        {
            if (!TagRegex().IsMatch(rest[(colon + 1)..])) return "has an invalid tag (1-128 of A-Z, a-z, 0-9, '_', '.', '-', not starting with '.' or '-')";
            rest = rest[..colon];
        }
        if (rest.Length == 0) return "has no repository name";
        var firstSlash = rest.IndexOf('/');
        var first = firstSlash < 0 ? rest : rest[..firstSlash];
        var path = rest;
        if (firstSlash >= 0 && (first.Contains('.') || first.Contains(':') || first == "localhost" || first.Any(char.IsAsciiLetterUpper)))
        {
            if (!DomainRegex().IsMatch(first)) return $"has an invalid registry host '{first}'";
            path = rest[(firstSlash + 1)..];
        }
        foreach (var component in path.Split('/'))
            if (!ComponentRegex().IsMatch(component))
                return $"has an invalid path component '{component}' (lowercase letters and digits, separated by '.', '_', '__' or '-')";
        return null;
    }

    [GeneratedRegex(@"^sha256:[0-9a-f]{64}$")]
    private static partial Regex DigestRegex();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagRegex();

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")]
    private static partial Regex ComponentRegex();

    [GeneratedRegex(@"^(?:(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")]
    private static partial Regex DomainRegex();
}
