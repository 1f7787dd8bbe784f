using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Tinyo.Rt.Processes;

namespace Tinyo.Rt.Setup;

/// <summary>
/// Where the time of one container start goes, for benchmarks (<c>bench/dup.sh</c>'s breakdown): marks taken in this
/// process (<see cref="Mark"/>, around the cgroup, the plan, the clone) and in the clone child itself — a
/// <c>clock_gettime(CLOCK_MONOTONIC)</c> row between set-up steps, written into this process's memory (the child
/// shares it: CLONE_VM), so the namespace clone, the overlay mount, pivot_root and the exec are timed where they
/// happen, without a second process or a pipe.
/// </summary>
/// <remarks>
/// Off unless <c>TINYO_TRACE_START=1</c> is in the environment or a harness sets <see cref="Enabled"/>: <see cref="Mark"/>
/// is then one thread-static read, and the child's script gets no extra row. One trace per thread at a time
/// (<see cref="Begin"/> … <see cref="Dispose"/>), which is how a start runs: on its caller's thread. Both clocks are
/// CLOCK_MONOTONIC in nanoseconds (.NET's <see cref="Stopwatch"/> on Linux), so the two kinds of marks sort into one
/// timeline.
/// </remarks>
public sealed unsafe class StartTrace : IDisposable
{
    /// <summary>Whether tracing is on: <c>TINYO_TRACE_START=1</c>, or set by a benchmark harness or test (never by the
    /// runtime itself).</summary>
    public static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("TINYO_TRACE_START") == "1";

    private const int ChildSlots = 256;
    private const long SYS_clock_gettime = 228, CLOCK_MONOTONIC = 1;

    [ThreadStatic] private static StartTrace? t_current;

    private readonly List<(string What, long At)> _marks = new(64);
    private readonly List<string> _childWhat = new(ChildSlots);
    private long* _child; // ChildSlots timespecs the child fills
    private long[]? _kept; // their copy once the trace is disposed

    private StartTrace()
    {
        _child = (long*)NativeMemory.AllocZeroed(ChildSlots * 16);
        _marks.Add(("begin", Stopwatch.GetTimestamp()));
    }

    /// <summary>The trace of the start running on this thread, or null.</summary>
    internal static StartTrace? Current => t_current;

    /// <summary>Starts a trace on this thread when tracing is on; null otherwise (a <c>using</c> of null is fine).</summary>
    public static StartTrace? Begin()
    {
        if (!Enabled) return null;
        var t = new StartTrace();
        t_current = t;
        return t;
    }

    /// <summary>Marks the end of <paramref name="what"/> (the time since the previous mark) in this thread's trace, if any.</summary>
    public static void Mark(string what)
    {
        if (t_current is { } t) t._marks.Add((what, Stopwatch.GetTimestamp()));
    }

    /// <summary>A row that stamps the time when the child gets there: the end of <paramref name="what"/>.</summary>
    internal static void ChildMark(SyscallScript s, string what)
    {
        if (t_current is not { } t || t._childWhat.Count >= ChildSlots) return;
        long* ts = t._child + 2 * t._childWhat.Count;
        t._childWhat.Add(what);
        s.Add("tracing", SYS_clock_gettime, CLOCK_MONOTONIC, (long)ts);
    }

    /// <summary>A step's name without its paths and ids (its type: <c>MountStep</c> → "mount"), so spans of many
    /// starts line up.</summary>
    internal static string Label(SetupStep step)
    {
        var n = step.GetType().Name;
        if (n.EndsWith("Step", StringComparison.Ordinal)) n = n[..^4];
        return n.ToLowerInvariant();
    }

    /// <summary>The spans in order: what, milliseconds; parent and child marks merged by time (a child mark the child
    /// never reached, because a step failed, is left out).</summary>
    public IReadOnlyList<(string What, double Ms)> Spans()
    {
        var all = new List<(string What, long At)>(_marks);
        for (int i = 0; i < _childWhat.Count; i++)
        {
            long sec = _kept?[2 * i] ?? _child[2 * i], nsec = _kept?[2 * i + 1] ?? _child[2 * i + 1];
            if (sec != 0 || nsec != 0) all.Add(("child: " + _childWhat[i], sec * 1_000_000_000 + nsec));
        }
        all.Sort((a, b) => a.At.CompareTo(b.At));
        double perMs = Stopwatch.Frequency / 1000.0;
        var spans = new List<(string What, double Ms)>(all.Count);
        for (int i = 1; i < all.Count; i++)
        {
            double ms = (all[i].At - all[i - 1].At) / perMs;
            // Steps of one kind in a row (the spec's bind mounts) are one span.
            if (spans.Count > 0 && spans[^1].What == all[i].What) spans[^1] = (all[i].What, spans[^1].Ms + ms);
            else spans.Add((all[i].What, ms));
        }
        return spans;
    }

    /// <summary>One line: "what ms; what ms; …", total last.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        double total = 0;
        foreach (var (what, ms) in Spans())
        {
            sb.Append(CultureInfo.InvariantCulture, $"{what} {ms:0.000}; ");
            total += ms;
        }
        sb.Append(CultureInfo.InvariantCulture, $"total {total:0.000}");
        return sb.ToString();
    }

    /// <summary>Ends the trace on this thread (its spans stay readable).</summary>
    public void Dispose()
    {
        if (t_current == this) t_current = null;
        if (_child != null)
        {
            _kept = new Span<long>(_child, 2 * _childWhat.Count).ToArray();
            NativeMemory.Free(_child);
            _child = null;
        }
    }
}
