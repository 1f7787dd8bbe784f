using System.Diagnostics;

namespace Tinyo.Rt.Diagnostics;

/// <summary>
/// Timestamps of a container start's phases, for the in-node start benchmark's breakdown (bench/, issue 16). Off
/// unless a harness turns it on: then each phase boundary on the start path records its name and a
/// <see cref="Stopwatch"/> timestamp for the calling thread. Off, a mark is one static bool test.
/// </summary>
public static class StartSpans
{
    /// <summary>Whether marks are recorded (set by a benchmark harness, never by the runtime).</summary>
    public static bool Enabled { get; set; }

    [ThreadStatic] private static List<(string Name, long Timestamp)>? t_marks;

    /// <summary>Records the end of phase <paramref name="name"/> on this thread.</summary>
    public static void Mark(string name)
    {
        if (!Enabled) return;
        (t_marks ??= new List<(string, long)>(32)).Add((name, Stopwatch.GetTimestamp()));
    }

    /// <summary>This thread's marks since the last call, oldest first; clears them.</summary>
    public static List<(string Name, long Timestamp)> Take()
    {
        var l = t_marks ?? [];
        t_marks = null;
        return l;
    }
}
