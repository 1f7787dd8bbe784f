using Tinyo.Linux;

namespace Tinyo.Node.Cluster;

/// <summary>
/// What a node removed from its cluster (<c>tio node - NAME</c> on another node) does after its own daemon has shut
/// down (containers, nft table, links and mounts gone with it): it stops its tinyokv too, whose member the remover
/// takes out of the KV group once this node's liveness is gone. Nothing of the node is left running. The KV's pid is
/// taken from <c>ROOT/run/tinyokv.pid</c> (as <c>tio ++</c> wrote it) and trusted only when /proc says that process
/// is tinyokv run with this root, as <c>tio down</c> checks it.
/// </summary>
public static class RemovedNode
{
    private const int SIGTERM = 15, SIGKILL = 9;

    /// <summary>How long tinyokv has after SIGTERM before SIGKILL.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);

    /// <summary>Stops this root's tinyokv, if one runs; returns its pid, or null when none ran.</summary>
    public static int? StopKv(string root, Action<string> log)
    {
        var file = Path.Combine(root, "run", "tinyokv.pid");
        if (!File.Exists(file) || !int.TryParse(File.ReadAllText(file).Trim(), out var pid) || pid <= 1 || !IsKvOf(pid, root)) return null;
        Libc.Kill(pid, SIGTERM);
        var deadline = DateTime.UtcNow + Grace;
        while (IsKvOf(pid, root) && DateTime.UtcNow < deadline) Thread.Sleep(100);
        if (IsKvOf(pid, root))
        {
            log($"tinyokv (pid {pid}) still running {Grace.TotalSeconds:0} s after SIGTERM: killed");
            Libc.Kill(pid, SIGKILL);
        }
        try
        {
            File.Delete(file);
        }
        catch (IOException)
        {
        }
        log($"tinyokv (pid {pid}) stopped: this node left the cluster");
        return pid;
    }

    /// <summary>True when <paramref name="pid"/> runs (not a zombie) and is tinyokv with <paramref name="root"/> on its command line.</summary>
    private static bool IsKvOf(int pid, string root)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("State:", StringComparison.Ordinal) && line.Contains('Z', StringComparison.Ordinal)) return false;
            var args = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            return args.Any(a => Path.GetFileName(a) is "tinyokv" or "tinyokv.dll")
                   && args.Any(a => a == root || a.StartsWith(root + "/", StringComparison.Ordinal));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
