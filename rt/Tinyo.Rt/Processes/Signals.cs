using System.Globalization;

namespace Tinyo.Rt.Processes;

/// <summary>Signal names as <c>kill</c> takes them: <c>TERM</c>, <c>SIGTERM</c>, <c>15</c>.</summary>
public static class Signals
{
    private static readonly string[] Names =
    [
        "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM",
        "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF",
        "WINCH", "IO", "PWR", "SYS",
    ];

    /// <summary>Parses a signal; an error names it when unknown.</summary>
    public static int Parse(string s)
    {
        if (int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            return n is > 0 and <= 64 ? n : throw new RtException($"invalid signal number {s}");
        var name = s.ToUpperInvariant();
        if (name.StartsWith("SIG")) name = name[3..];
        if (name == "IOT") name = "ABRT";
        if (name == "CLD") name = "CHLD";
        int i = Array.IndexOf(Names, name);
        return i > 0 ? i : throw new RtException($"unknown signal \"{s}\"");
    }
}
