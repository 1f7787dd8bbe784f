using System.CommandLine;

namespace Tinyo.Node.Cli.Commands;

/// <summary>
/// tinyonode clean: removes the cluster networks a node of ROOT left when it was killed before its own clean-up
/// ran to its end (<see cref="Network.NetworkLeftovers"/>). `tio down` runs it after it had to kill the daemon; it
/// needs no KV, and addresses stay leased (the next start gets the same ones).
/// </summary>
internal static class CleanCommand
{
    public static Command Create()
    {
        var root = new Option<string>("--root") { Description = "State directory of the node; env TINYO_ROOT", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("TINYO_ROOT") is { Length: > 0 } r ? r : "/var/lib/tinyo" };
        var killed = new Option<int?>("--killed-pid") { Description = "The killed daemon's pid: wait (up to 10 s) until the kernel has freed its pooled namespaces" };
        var cmd = new Command("clean", "Remove the cluster networks (namespaces, veths, bridges, nft table; forwarding as it was) and the clusters' cgroup2 directories a killed node of ROOT left") { root, killed };
        cmd.SetAction(async (pr, ct) =>
        {
            var dir = Path.Combine(pr.GetValue(root)!, "net");
            if (pr.GetValue(killed) is { } pid && pid <= 0) { Console.Error.WriteLine("tinyonode clean: --killed-pid must be a pid"); return 2; }
            try
            {
                var n = Directory.Exists(dir)
                    ? await Network.NetworkLeftovers.RemoveAsync(dir, pr.GetValue(killed), TimeSpan.FromSeconds(10), Console.WriteLine).ConfigureAwait(false)
                    : 0;
                // The clusters' cgroup2 directories (the eBPF shortcut's attach points), which outlive a killed node too.
                n += Direct.ClusterShortcuts.RemoveLeftovers(pr.GetValue(root)!, Console.WriteLine);
                if (n == 0) Console.WriteLine("nothing left");
                return 0;
            }
            catch (Exception e) when (e is Rt.RtException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"tinyonode clean: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }
}
