namespace Tinyo.Kv.Tests.Linearizability;

/// <summary>One operation of a recorded history on one key: a put of a value, or a get and what it saw (null: absent).</summary>
/// <param name="Call">When the client invoked it (monotonic ticks).</param>
/// <param name="Return">When the answer arrived; <see cref="long.MaxValue"/> when the outcome is unknown (a put that
/// timed out may or may not have taken effect).</param>
public sealed record KvOp(long Call, long Return, bool IsPut, string? Value);

/// <summary>
/// A Wing–Gong linearizability checker with Lowe's memoization (the algorithm Porcupine uses) for a register per
/// key. Linearizability is compositional, so each key is checked on its own: the search stays small.
/// </summary>
public static class KvChecker
{
    private sealed class Entry
    {
        public int Op;
        public bool IsCall;
        public long Time;
        public Entry? Match, Prev, Next;
    }

    /// <summary>True when some total order of the operations, consistent with real time, is a legal register history.</summary>
    public static bool IsLinearizable(IReadOnlyList<KvOp> ops, string? initial = null)
    {
        if (ops.Count == 0) return true;
        var events = new List<Entry>(ops.Count * 2);
        for (var i = 0; i < ops.Count; i++)
        {
            var call = new Entry { Op = i, IsCall = true, Time = ops[i].Call };
            var ret = new Entry { Op = i, IsCall = false, Time = ops[i].Return };
            call.Match = ret;
            ret.Match = call;
            events.Add(call);
            events.Add(ret);
        }
        // Returns before calls at equal times: such operations do not overlap (the stricter reading).
        events.Sort((a, b) => a.Time != b.Time ? a.Time.CompareTo(b.Time) : a.IsCall.CompareTo(b.IsCall));
        var head = new Entry { Op = -1 };
        var last = head;
        foreach (var e in events)
        {
            last.Next = e;
            e.Prev = last;
            last = e;
        }

        var linearized = new ulong[(ops.Count + 63) / 64];
        var cache = new HashSet<string>();
        var stack = new Stack<(Entry Call, string? State)>();
        var state = initial;
        var entry = head.Next;
        while (head.Next is not null)
        {
            if (entry!.IsCall)
            {
                var op = ops[entry.Op];
                var ok = op.IsPut || op.Value == state;
                var next = op.IsPut ? op.Value : state;
                if (ok)
                {
                    linearized[entry.Op / 64] |= 1UL << (entry.Op % 64);
                    if (cache.Add(Key(linearized, next)))
                    {
                        stack.Push((entry, state));
                        state = next;
                        Lift(entry);
                        entry = head.Next;
                        continue;
                    }
                    linearized[entry.Op / 64] &= ~(1UL << (entry.Op % 64));
                }
                entry = entry.Next;
            }
            else
            {
                // An operation returned before anything linearized it: undo the last choice.
                if (stack.Count == 0) return false;
                var (call, previous) = stack.Pop();
                state = previous;
                linearized[call.Op / 64] &= ~(1UL << (call.Op % 64));
                Unlift(call);
                entry = call.Next;
            }
        }
        return true;
    }

    private static string Key(ulong[] bits, string? state)
        => string.Join(",", bits) + "|" + (state is null ? "\0" : state);

    private static void Lift(Entry call)
    {
        call.Prev!.Next = call.Next;
        if (call.Next is not null) call.Next.Prev = call.Prev;
        var ret = call.Match!;
        ret.Prev!.Next = ret.Next;
        if (ret.Next is not null) ret.Next.Prev = ret.Prev;
    }

    private static void Unlift(Entry call)
    {
        var ret = call.Match!;
        ret.Prev!.Next = ret;
        if (ret.Next is not null) ret.Next.Prev = ret;
        call.Prev!.Next = call;
        if (call.Next is not null) call.Next.Prev = call;
    }
}
