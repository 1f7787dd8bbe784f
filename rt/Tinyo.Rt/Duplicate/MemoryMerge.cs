using Tinyo.Linux;

namespace Tinyo.Rt.Duplicate;

/// <summary>
/// Kernel same-page merging (KSM) as the host offers it: whether a process can opt in (PR_SET_MEMORY_MERGE, Linux
/// ≥ 6.4), whether ksmd runs (<c>/sys/kernel/mm/ksm/run</c>), and how many pages it merged — per process
/// (<c>/proc/PID/ksm_merging_pages</c>) and for the host (<c>pages_shared</c>: kept pages; <c>pages_sharing</c>:
/// the pages that now point at them, i.e. the memory saved).
/// </summary>
public static class MemoryMerge
{
    private const string Ksm = "/sys/kernel/mm/ksm/";

    /// <summary>Whether this kernel knows PR_SET_MEMORY_MERGE (asked of this process: PR_GET answers 0 or 1).</summary>
    public static bool Supported => Libc.Prctl(Libc.PR_GET_MEMORY_MERGE, 0, 0, 0, 0) >= 0;

    /// <summary>Whether ksmd is scanning (<c>run</c> = 1). Opted-in pages merge only while it runs.</summary>
    public static bool Running => ReadLong(Ksm + "run") == 1;

    /// <summary>Starts ksmd (<c>run</c> = 1) — the host's setting, changed only by an orchestrator that was told to
    /// (the node, or a benchmark that puts it back). Returns whether it runs afterwards.</summary>
    public static bool Start()
    {
        try { File.WriteAllText(Ksm + "run", "1"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
        return Running;
    }

    /// <summary>Stops ksmd scanning (<c>run</c> = 0; merged pages stay merged).</summary>
    public static void Stop()
    {
        try { File.WriteAllText(Ksm + "run", "0"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>The host's <c>pages_sharing</c> (pages saved), or -1 without KSM.</summary>
    public static long PagesSharing => ReadLong(Ksm + "pages_sharing");

    /// <summary>The host's <c>pages_shared</c> (merged pages kept), or -1 without KSM.</summary>
    public static long PagesShared => ReadLong(Ksm + "pages_shared");

    /// <summary>Pages of process <paramref name="pid"/> that are merged, or -1 when unknown.</summary>
    public static long MergingPages(int pid) => ReadLong($"/proc/{pid}/ksm_merging_pages");

    private static long ReadLong(string path)
    {
        try { return long.TryParse(File.ReadAllText(path).Trim(), out var v) ? v : -1; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return -1; }
    }
}
