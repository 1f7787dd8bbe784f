using System.Globalization;

namespace Tinyo.Rt.Cgroups;

/// <summary>
/// What a container has used so far, as monitoring reads it: CPU time, memory in use and its limit.
/// </summary>
/// <param name="CpuNanos">CPU time of the container's processes, nanoseconds (user + system).</param>
/// <param name="MemoryBytes">Memory in use without the page cache the kernel can drop at once (usage − inactive
/// file pages: what <c>docker stats</c> shows).</param>
/// <param name="MemoryLimit">The memory limit, or null when there is none.</param>
/// <param name="CpuFromProcesses">True when the CPU time is the sum over the container's live processes (a v1 host
/// where the container has no cpuacct cgroup): time of processes that ended and were not reaped inside the
/// container is then missing.</param>
public readonly record struct CgroupUsage(long CpuNanos, long MemoryBytes, long? MemoryLimit, bool CpuFromProcesses);

// The cheap read of a cgroup's usage for metrics (Cgroup.Engine's WriteStats is runc's full statistics object).
public sealed partial class Cgroup
{
    /// <summary>USER_HZ: the unit of /proc/PID/stat's times (100 on every Linux architecture .NET runs on).</summary>
    private const long TicksPerSecond = 100;

    /// <summary>
    /// The cgroup's CPU time and memory. CPU: v2 <c>cpu.stat</c>'s <c>usage_usec</c> (kept with or without the cpu
    /// controller), else v1 <c>cpuacct.usage</c>, else — a v1 container outside cpuacct, as the node's are (one
    /// hierarchy fewer to create per start) — the sum of <c>/proc/PID/stat</c>'s utime, stime, cutime and cstime over
    /// the cgroup's processes (children reaped inside the container are in their parent's cutime/cstime).
    /// </summary>
    public CgroupUsage Usage()
    {
        long cpu;
        bool fromProcs = false;
        long memory = 0;
        long? limit = null;
        if (IsV2)
        {
            var d = Directories[0];
            cpu = Get(ReadKeys(d, "cpu.stat"), "usage_usec") * 1000;
            memory = (ReadLong(d, "memory.current") ?? 0) - Get(ReadKeys(d, "memory.stat"), "inactive_file");
            limit = ReadLong(d, "memory.max"); // "max" (none) does not parse: null
        }
        else
        {
            if (DirOf("cpuacct.usage") is { } acct) cpu = ReadLong(acct, "cpuacct.usage") ?? 0;
            else
            {
                fromProcs = true;
                cpu = 0;
                foreach (var pid in Processes()) cpu += ProcessCpuTicks(pid) * (1_000_000_000 / TicksPerSecond);
            }
            if (DirOf("memory.usage_in_bytes") is { } mem)
            {
                memory = (ReadLong(mem, "memory.usage_in_bytes") ?? 0) - Get(ReadKeys(mem, "memory.stat"), "total_inactive_file");
                // v1 reads an unlimited limit as a page-rounded LONG_MAX.
                if (ReadLong(mem, "memory.limit_in_bytes") is { } l && l < long.MaxValue / 2) limit = l;
            }
        }
        return new CgroupUsage(cpu, Math.Max(0, memory), limit, fromProcs);
    }

    private static long ProcessCpuTicks(int pid)
    {
        try
        {
            return StatCpuTicks(File.ReadAllText($"/proc/{pid}/stat"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0; // it ended meanwhile
        }
    }

    /// <summary>
    /// utime + stime + cutime + cstime (fields 14–17) of a <c>/proc/PID/stat</c> line, in clock ticks; 0 when the line
    /// is not one. The command name (field 2) is the process's to choose — spaces and parentheses included — so the
    /// fields are counted from the last ')'.
    /// </summary>
    public static long StatCpuTicks(ReadOnlySpan<char> stat)
    {
        var close = stat.LastIndexOf(')');
        if (close < 0) return 0;
        var rest = stat[(close + 1)..];
        // After ')': field 3 (state) is the first; utime is field 14, so the 12th after it.
        long sum = 0;
        int field = 3;
        foreach (var range in rest.Split(' '))
        {
            var token = rest[range];
            if (token.IsEmpty) continue;
            if (field is >= 14 and <= 17)
            {
                if (!long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) || v < 0) return 0;
                sum += v;
                if (field == 17) return sum;
            }
            field++;
        }
        return 0;
    }
}
