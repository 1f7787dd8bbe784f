using System.Text;

namespace Tinyo.Api.Statefile;

/// <summary>
/// Makes user input safe to echo into a terminal or a log line: control characters (C0, DEL, C1), line and
/// paragraph separators and bidirectional overrides are written as visible escapes (<c>\x1b</c>, <c>\u202e</c>), so a
/// name such as <c>"\e[2J"</c> cannot clear the screen, forge a second log line or reorder what the reader sees.
/// </summary>
public static class Printable
{
    /// <summary>The text with every unsafe character escaped; the same string when there is none.</summary>
    public static string Escape(string? s)
    {
        if (s is null) return "";
        var i = 0;
        while (i < s.Length && !Unsafe(s[i])) i++;
        if (i == s.Length) return s;
        var b = new StringBuilder(s.Length + 16).Append(s, 0, i);
        for (; i < s.Length; i++)
        {
            var c = s[i];
            if (!Unsafe(c)) b.Append(c);
            else if (c <= 0xFF) b.Append("\\x").Append(((int)c).ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            else b.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
        }
        return b.ToString();
    }

    /// <summary>True for a character a terminal would act on rather than show.</summary>
    public static bool Unsafe(char c)
        => c < 0x20 || c is >= '\x7f' and <= '\x9f' || c is '\u2028' or '\u2029' or >= '\u202a' and <= '\u202e' or >= '\u2066' and <= '\u2069';
}
