using System.Text;

namespace Tinyo.Api.Statefile;

/// <summary>Splits a command string into words like a POSIX shell (quotes and backslashes), as Compose does.</summary>
public static class ShellWords
{
    /// <summary>The words, or null when a quote is not closed.</summary>
    public static List<string>? Split(string s)
    {
        var words = new List<string>();
        var cur = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c is ' ' or '\t' or '\n' or '\r')
            {
                if (inWord) { words.Add(cur.ToString()); cur.Clear(); inWord = false; }
                continue;
            }
            inWord = true;
            if (c == '\\' && i + 1 < s.Length) cur.Append(s[++i]);
            else if (c == '\'')
            {
                var end = s.IndexOf('\'', i + 1);
                if (end < 0) return null;
                cur.Append(s, i + 1, end - i - 1);
                i = end;
            }
            else if (c == '"')
            {
                var j = i + 1;
                for (; j < s.Length && s[j] != '"'; j++)
                {
                    if (s[j] == '\\' && j + 1 < s.Length && s[j + 1] is '"' or '\\' or '$' or '`') j++;
                    cur.Append(s[j]);
                }
                if (j >= s.Length) return null;
                i = j;
            }
            else cur.Append(c);
        }
        if (inWord) words.Add(cur.ToString());
        return words;
    }
}
