using System.Globalization;
using Tinyo.Rt;
using Tinyo.Rt.Network;

namespace Tinyo.Node.Network;

/// <summary>
/// What a node's cluster networks leave on the host when the node is killed before <see cref="ClusterNetworks.StopAsync"/>
/// ran to its end — `tio down` kills the daemon after its grace period, and a node stopping containers that ignore
/// SIGTERM (a shell or httpd as pid 1) for its own stop grace, on a loaded host, outlives a short one — and their
/// removal without the KV (which a later `tio ++` would need): the namespace files of <c>ROOT/net/ns/</c> with their
/// veths, the bridges named in <c>ROOT/net/bridges</c> (kept by <see cref="ClusterNetworks"/> as bridges come and
/// go), the node's nft table, and IP forwarding as it was. Pooled namespaces are never mounted: the kernel frees them
/// with the killed process's descriptors, asynchronously — so <see cref="RemoveAsync"/> waits until its pooled veths
/// (<c>tp</c> + its pid) are gone. Names are derived from the network directory's full path, as the node derives
/// them.
/// </summary>
public static class NetworkLeftovers
{
    /// <summary>The IPv4 forwarding switch.</summary>
    public const string ForwardSysctl = "/proc/sys/net/ipv4/ip_forward";

    /// <summary>The node's nft table for the network directory <paramref name="netRoot"/> (<c>ROOT/net</c>).</summary>
    public static string TableOf(string netRoot) => "tinyo_" + VethName.For(Path.GetFullPath(netRoot))[2..10];

    /// <summary>The host end of <paramref name="replica"/>'s veth.</summary>
    public static string VethOf(string netRoot, string replica) => VethName.For(Path.GetFullPath(netRoot) + "\0" + replica);

    /// <summary>Where the bridges present are listed, one name a line.</summary>
    public static string BridgesFile(string netRoot) => Path.Combine(netRoot, "bridges");

    /// <summary>Where forwarding's value before the node turned it on is kept.</summary>
    public static string SavedForwarding(string netRoot) => Path.Combine(netRoot, "ip_forward.saved");

    /// <summary>Replaces the list of bridges (written whole, then renamed over the old one); an empty list deletes it.</summary>
    public static void SaveBridges(string netRoot, IReadOnlyCollection<string> bridges)
    {
        var file = BridgesFile(netRoot);
        if (bridges.Count == 0)
        {
            File.Delete(file);
            return;
        }
        Directory.CreateDirectory(netRoot);
        File.WriteAllText(file + ".new", string.Concat(bridges.Select(b => b + "\n")));
        File.Move(file + ".new", file, overwrite: true);
    }

    /// <summary>Sets forwarding back to its saved value and forgets it; nothing when none was saved.</summary>
    public static void RestoreForwarding(string netRoot, Action<string> log)
    {
        var saved = SavedForwarding(netRoot);
        try
        {
            if (!File.Exists(saved)) return;
            var was = File.ReadAllText(saved).Trim();
            if (was is "0" or "1") File.WriteAllText(ForwardSysctl, was + "\n");
            File.Delete(saved);
            log($"net.ipv4.ip_forward={was} again");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log($"cannot restore IP forwarding: {e.Message}");
        }
    }

    /// <summary>
    /// Removes what the node of <paramref name="netRoot"/> left (see the type); <paramref name="killedPid"/>, when
    /// given, is the killed daemon, whose pooled veths are waited for (at most <paramref name="wait"/>). Returns how
    /// many objects it removed or waited out; each one is logged, failures too (the rest is removed all the same).
    /// </summary>
    public static async Task<int> RemoveAsync(string netRoot, int? killedPid, TimeSpan wait, Action<string> log)
    {
        int removed = 0;
        using var host = Rtnetlink.OpenCurrent();
        var bridges = File.Exists(BridgesFile(netRoot)) ? File.ReadAllLines(BridgesFile(netRoot)).Where(l => l.StartsWith("tb", StringComparison.Ordinal)).ToList() : [];
        foreach (var b in bridges)
            if (Try(log, $"bridge {b}", () => ClusterBridge.Remove(host, b)))
            {
                removed++;
                log($"removed bridge {b}");
            }
        var table = TableOf(netRoot);
        try
        {
            if (await IsolationTable.ExistsAsync(table).ConfigureAwait(false))
            {
                await IsolationTable.RemoveAsync(table).ConfigureAwait(false);
                removed++;
                log($"removed nft table inet {table}");
            }
        }
        catch (NodeException e)
        {
            log(e.Message);
        }
        if (File.Exists(SavedForwarding(netRoot)))
        {
            RestoreForwarding(netRoot, log);
            removed++;
        }
        var ns = Path.Combine(netRoot, "ns");
        if (Directory.Exists(ns))
            foreach (var f in Directory.GetFiles(ns))
                if (Try(log, $"namespace {f}", () => ReplicaNetwork.Remove(host, f, VethOf(netRoot, Path.GetFileName(f)))))
                {
                    removed++;
                    log($"removed namespace {Path.GetFileName(f)}");
                }
        Try(log, "the bridge list", () =>
        {
            SaveBridges(netRoot, []);
            return true;
        });
        if (killedPid is { } pid)
        {
            var prefix = ReplicaNetworkPool.PoolPrefix + pid.ToString("x", CultureInfo.InvariantCulture);
            var deadline = DateTime.UtcNow + wait;
            int pooled = Pooled(host, prefix);
            while (Pooled(host, prefix) > 0 && DateTime.UtcNow < deadline) await Task.Delay(50).ConfigureAwait(false);
            int still = Pooled(host, prefix);
            if (pooled > 0) log(still == 0 ? $"{pooled} pooled namespace(s) of pid {pid} freed by the kernel" : $"{still} pooled veth(s) {prefix}… still there after {wait.TotalSeconds:0} s");
            removed += pooled - still;
        }
        return removed;
    }

    // "tp" + the pid in hex + a 6-digit sequence (ReplicaNetworkPool's names): the length keeps pid 1a2 off pid 1a2b's.
    private static int Pooled(Rtnetlink host, string prefix)
        => host.ListLinks().Count(l => l.Name.Length == prefix.Length + 6 && l.Name.StartsWith(prefix, StringComparison.Ordinal));

    private static bool Try(Action<string> log, string what, Func<bool> step)
    {
        try
        {
            return step();
        }
        catch (Exception e) when (e is RtException or IOException or UnauthorizedAccessException)
        {
            log($"could not remove {what}: {e.Message}");
            return false;
        }
    }
}
