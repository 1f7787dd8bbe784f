using Tinyo.Linux;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Security;

/// <summary>The <c>RLIMIT_*</c> names of <c>process.rlimits</c> and their numbers.</summary>
public static class Rlimits
{
    private static readonly string[] Names =
    [
        "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS", "RLIMIT_NPROC",
        "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
    ];

    /// <summary>Number of a limit name; an error naming it when unknown.</summary>
    public static int Number(string name)
    {
        int i = Array.IndexOf(Names, name.ToUpperInvariant());
        return i >= 0 ? i : throw new RtException($"process.rlimits: unknown limit type \"{name}\"");
    }

    /// <summary>Sets every limit on the calling process.</summary>
    internal static unsafe void Apply(List<SpecRlimit>? limits)
    {
        if (limits is null) return;
        var v = stackalloc ulong[2];
        foreach (var l in limits)
        {
            v[0] = l.Soft; v[1] = l.Hard;
            if (Libc.Setrlimit(Number(l.Type), v) != 0) throw Libc.Error($"setrlimit {l.Type} soft={l.Soft} hard={l.Hard}");
        }
    }
}
