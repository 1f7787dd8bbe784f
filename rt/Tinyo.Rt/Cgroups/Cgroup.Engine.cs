using System.Globalization;
using System.Text.Json;
using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Cgroups;

// What engines (containerd's shim, docker) do to a running container's cgroup beyond create and destroy: change its
// limits (runc update), freeze and thaw it (runc pause/resume), read its statistics (runc events --stats).
public sealed partial class Cgroup
{
    /// <summary>
    /// Applies new limits to a live cgroup (<c>runc update</c>): memory, swap, CPU shares/quota/period and pids, as
    /// at create. Device rules are left as they are (runc's update does not touch them either). On v1 the memory and
    /// memory+swap limits are written in the order the kernel accepts (memory ≤ memory+swap at every step).
    /// </summary>
    public void Update(SpecResources r, Action<string>? warn)
    {
        if (IsV2)
        {
            ApplyV2(r, warn);
            return;
        }
        if (r.Memory is { Limit: > 0, Swap: > 0 } m && DirOf("memory.memsw.limit_in_bytes") is { } mem
            && ReadLong(mem, "memory.memsw.limit_in_bytes") is { } cur && m.Limit > cur)
            Write(mem, "memory.memsw.limit_in_bytes", N(m.Swap.Value)); // raise memory+swap first
        ApplyV1Limits(r, warn);
    }

    /// <summary>Whether the cgroup can be frozen (v2, or a joined v1 freezer hierarchy).</summary>
    public bool CanFreeze => IsV2 ? File.Exists(Directories[0] + "/cgroup.freeze") : DirOf("freezer.state") is not null;

    /// <summary>Freezes every process of the cgroup and waits until the kernel reports it frozen.</summary>
    public void Freeze()
    {
        if (!CanFreeze) throw new RtException("cannot pause: the container has no freezer cgroup");
        if (IsV2)
        {
            Write(Directories[0], "cgroup.freeze", "1");
            WaitFor(() => ReadKey(Directories[0], "cgroup.events", "frozen") == 1, "frozen");
            return;
        }
        var d = DirOf("freezer.state")!;
        Write(d, "freezer.state", "FROZEN");
        // FREEZING while tasks are still being stopped; re-writing FROZEN retries the ones that were busy.
        WaitFor(() =>
        {
            if (ReadText(d, "freezer.state") == "FROZEN") return true;
            Write(d, "freezer.state", "FROZEN");
            return false;
        }, "frozen");
    }

    /// <summary>Thaws a frozen cgroup (nothing to do when it is not frozen or has no freezer).</summary>
    public void Thaw()
    {
        if (IsV2)
        {
            if (ReadText(Directories[0], "cgroup.freeze") == "1") Write(Directories[0], "cgroup.freeze", "0", optional: true);
            return;
        }
        if (DirOf("freezer.state") is not { } d || ReadText(d, "freezer.state") is null or "THAWED") return;
        Write(d, "freezer.state", "THAWED");
        WaitFor(() => ReadText(d, "freezer.state") is null or "THAWED", "thawed");
    }

    /// <summary>Whether the cgroup is frozen (or freezing).</summary>
    public bool IsFrozen => IsV2
        ? ReadKey(Directories[0], "cgroup.events", "frozen") == 1 || ReadText(Directories[0], "cgroup.freeze") == "1"
        : DirOf("freezer.state") is { } d && ReadText(d, "freezer.state") is "FROZEN" or "FREEZING";

    private static void WaitFor(Func<bool> done, string what)
    {
        for (int i = 0; i < 2000; i++)
        {
            if (done()) return;
            Thread.Sleep(i < 100 ? 1 : 5);
        }
        throw new RtException($"the cgroup did not become {what} within 10 s");
    }

    /// <summary>
    /// Writes the container's statistics as runc's <c>events --stats</c> <c>data</c> object: cpu (usage total,
    /// per cpu, kernel, user; throttling), memory (usage, swap, kernel with limit/max/failcnt; raw memory.stat) and
    /// pids (current, limit). Counters a hierarchy does not have are left out.
    /// </summary>
    public void WriteStats(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartObject("cpu");
        w.WriteStartObject("usage");
        if (IsV2)
        {
            var cpu = ReadKeys(Directories[0], "cpu.stat");
            w.WriteNumber("total", Get(cpu, "usage_usec") * 1000);
            w.WriteNumber("kernel", Get(cpu, "system_usec") * 1000);
            w.WriteNumber("user", Get(cpu, "user_usec") * 1000);
            w.WriteEndObject();
            w.WriteStartObject("throttling");
            w.WriteNumber("periods", Get(cpu, "nr_periods"));
            w.WriteNumber("throttled_periods", Get(cpu, "nr_throttled"));
            w.WriteNumber("throttled_time", Get(cpu, "throttled_usec") * 1000);
            w.WriteEndObject();
        }
        else
        {
            if (DirOf("cpuacct.usage") is { } acct)
            {
                w.WriteNumber("total", ReadLong(acct, "cpuacct.usage") ?? 0);
                w.WriteStartArray("percpu");
                foreach (var v in (ReadText(acct, "cpuacct.usage_percpu") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    w.WriteNumberValue(long.Parse(v, CultureInfo.InvariantCulture));
                w.WriteEndArray();
                // cpuacct.stat is in USER_HZ ticks (100 per second).
                var st = ReadKeys(acct, "cpuacct.stat");
                w.WriteNumber("kernel", Get(st, "system") * 10_000_000);
                w.WriteNumber("user", Get(st, "user") * 10_000_000);
            }
            w.WriteEndObject();
            if (DirOf("cpu.stat") is { } cpuDir)
            {
                var cpu = ReadKeys(cpuDir, "cpu.stat");
                w.WriteStartObject("throttling");
                w.WriteNumber("periods", Get(cpu, "nr_periods"));
                w.WriteNumber("throttled_periods", Get(cpu, "nr_throttled"));
                w.WriteNumber("throttled_time", Get(cpu, "throttled_time"));
                w.WriteEndObject();
            }
        }
        w.WriteEndObject();

        w.WriteStartObject("memory");
        if (IsV2)
        {
            var d = Directories[0];
            Entry(w, "usage", ReadLong(d, "memory.current"), ReadLong(d, "memory.max"), ReadLong(d, "memory.peak"), null);
            Entry(w, "swap", ReadLong(d, "memory.swap.current"), ReadLong(d, "memory.swap.max"), null, null);
            Raw(w, ReadKeys(d, "memory.stat"));
        }
        else if (DirOf("memory.usage_in_bytes") is { } mem)
        {
            Entry(w, "usage", ReadLong(mem, "memory.usage_in_bytes"), ReadLong(mem, "memory.limit_in_bytes"),
                ReadLong(mem, "memory.max_usage_in_bytes"), ReadLong(mem, "memory.failcnt"));
            if (File.Exists(mem + "/memory.memsw.usage_in_bytes"))
                Entry(w, "swap", ReadLong(mem, "memory.memsw.usage_in_bytes"), ReadLong(mem, "memory.memsw.limit_in_bytes"),
                    ReadLong(mem, "memory.memsw.max_usage_in_bytes"), ReadLong(mem, "memory.memsw.failcnt"));
            if (File.Exists(mem + "/memory.kmem.usage_in_bytes"))
                Entry(w, "kernel", ReadLong(mem, "memory.kmem.usage_in_bytes"), ReadLong(mem, "memory.kmem.limit_in_bytes"),
                    ReadLong(mem, "memory.kmem.max_usage_in_bytes"), ReadLong(mem, "memory.kmem.failcnt"));
            Raw(w, ReadKeys(mem, "memory.stat"));
        }
        w.WriteEndObject();

        if (DirOf("pids.current") is { } pids)
        {
            w.WriteStartObject("pids");
            w.WriteNumber("current", ReadLong(pids, "pids.current") ?? 0);
            if (ReadLong(pids, "pids.max") is { } max) w.WriteNumber("limit", max); // "max" (no limit) is left out
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    private static void Entry(Utf8JsonWriter w, string name, long? usage, long? limit, long? max, long? failcnt)
    {
        w.WriteStartObject(name);
        w.WriteNumber("usage", usage ?? 0);
        if (max is { } m) w.WriteNumber("max", m);
        // An unlimited limit reads "max" (v2) or a page-rounded LONG_MAX (v1); runc reports the latter as is.
        w.WriteNumber("limit", limit ?? long.MaxValue);
        if (failcnt is { } f) w.WriteNumber("failcnt", f);
        w.WriteEndObject();
    }

    private static void Raw(Utf8JsonWriter w, Dictionary<string, long> raw)
    {
        w.WriteStartObject("raw");
        foreach (var (k, v) in raw) w.WriteNumber(k, v);
        w.WriteEndObject();
    }

    private static long Get(Dictionary<string, long> d, string key) => d.TryGetValue(key, out var v) ? v : 0;

    private static string? ReadText(string dir, string file)
    {
        try { return File.ReadAllText(Path.Combine(dir, file)).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    private static long? ReadLong(string dir, string file) =>
        long.TryParse(ReadText(dir, file), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : null;

    private static Dictionary<string, long> ReadKeys(string dir, string file)
    {
        var d = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in (ReadText(dir, file) ?? "").Split('\n'))
        {
            int sp = line.IndexOf(' ');
            if (sp > 0 && long.TryParse(line.AsSpan(sp + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)) d[line[..sp]] = v;
        }
        return d;
    }

    private static long? ReadKey(string dir, string file, string key) => ReadKeys(dir, file).TryGetValue(key, out var v) ? v : null;
}
