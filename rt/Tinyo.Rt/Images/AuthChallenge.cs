namespace Tinyo.Rt.Images;

/// <summary>
/// One challenge of a <c>WWW-Authenticate</c> header (RFC 7235): a scheme and its parameters, e.g.
/// <c>Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"</c>.
/// The header comes from a registry and is untrusted: parsing is bounded and never throws.
/// </summary>
public sealed class AuthChallenge
{
    private const int MaxHeader = 8192;
    private const int MaxParams = 32;

    private AuthChallenge(string scheme, Dictionary<string, string> parameters)
    {
        Scheme = scheme;
        Parameters = parameters;
    }

    /// <summary>The scheme, as sent (compare case-insensitively).</summary>
    public string Scheme { get; }

    /// <summary>Parameters by lowercase name.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; }

    /// <summary>A parameter's value or null.</summary>
    public string? this[string name] => Parameters.TryGetValue(name, out var v) ? v : null;

    /// <summary>True for the Bearer (token) scheme.</summary>
    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);

    /// <summary>True for the Basic scheme.</summary>
    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses every challenge in one header value; malformed tails are dropped, never thrown.</summary>
    public static List<AuthChallenge> Parse(string? header)
    {
        var result = new List<AuthChallenge>();
        if (string.IsNullOrEmpty(header) || header.Length > MaxHeader) return result;
        var s = header.AsSpan();
        var i = 0;
        while (i < s.Length && result.Count < 8)
        {
            SkipSeparators(s, ref i);
            var scheme = Token(s, ref i);
            if (scheme.Length == 0) break;
            var ps = new Dictionary<string, string>(StringComparer.Ordinal);
            while (i < s.Length)
            {
                SkipSpaces(s, ref i);
                var save = i;
                var name = Token(s, ref i);
                SkipSpaces(s, ref i);
                if (name.Length == 0 || i >= s.Length || s[i] != '=')
                {
                    // Not a parameter: either the next challenge's scheme, or token68 (ignored), or garbage.
                    if (name.Length > 0 && i < s.Length && s[i] != ',' && ps.Count == 0) { SkipToComma(s, ref i); continue; }
                    i = save;
                    break;
                }
                i++; // '='
                SkipSpaces(s, ref i);
                string value;
                if (i < s.Length && s[i] == '"')
                {
                    if (!Quoted(s, ref i, out value)) return Finish(result, scheme, ps);
                }
                else
                {
                    value = Token(s, ref i);
                }
                if (ps.Count < MaxParams) ps.TryAdd(name.ToLowerInvariant(), value);
                SkipSpaces(s, ref i);
                if (i < s.Length && s[i] == ',')
                {
                    i++;
                    continue;
                }
                break;
            }
            result.Add(new AuthChallenge(scheme, ps));
        }
        return result;
    }

    private static List<AuthChallenge> Finish(List<AuthChallenge> r, string scheme, Dictionary<string, string> ps)
    {
        r.Add(new AuthChallenge(scheme, ps));
        return r;
    }

    private static bool IsTokenChar(char c)
        => char.IsAsciiLetterOrDigit(c) || c is '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.'
            or '^' or '_' or '`' or '|' or '~' or '/' or ':';

    private static string Token(ReadOnlySpan<char> s, ref int i)
    {
        var start = i;
        while (i < s.Length && IsTokenChar(s[i])) i++;
        return s[start..i].ToString();
    }

    private static bool Quoted(ReadOnlySpan<char> s, ref int i, out string value)
    {
        var sb = new System.Text.StringBuilder();
        i++; // opening quote
        while (i < s.Length)
        {
            var c = s[i++];
            if (c == '"')
            {
                value = sb.ToString();
                return true;
            }
            if (c == '\\' && i < s.Length) c = s[i++];
            sb.Append(c);
        }
        value = "";
        return false;
    }

    private static void SkipSpaces(ReadOnlySpan<char> s, ref int i)
    {
        while (i < s.Length && s[i] is ' ' or '\t') i++;
    }

    private static void SkipSeparators(ReadOnlySpan<char> s, ref int i)
    {
        while (i < s.Length && s[i] is ' ' or '\t' or ',') i++;
    }

    private static void SkipToComma(ReadOnlySpan<char> s, ref int i)
    {
        while (i < s.Length && s[i] != ',') i++;
    }
}
