using System.CommandLine;
using System.Globalization;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio node ls: the cluster's nodes from the KV registry (state from each node's liveness lease);
/// tio node - NAME (rm): drain, then remove it.</summary>
internal static class NodeCommand
{
    public static Command Create()
    {
        var ls = new Command("ls", "List the cluster's nodes: name, state (ready while its lease is renewed, else lost), address, capacity, replicas");
        Common.Run(ls, async (pr, ct) =>
        {
            var nodes = await Common.Client(pr).NodesAsync(ct);
            Common.Table(["NAME", "STATE", "ADDRESS", "CPUS", "MEMORY", "REPLICAS", "LABELS", "AGE"], nodes.Select(n => new[]
            {
                n.Name, n.State == "ready" ? Common.Green(n.State) : Common.Yellow(n.State), n.Address,
                n.Cpus.ToString(CultureInfo.InvariantCulture), $"{n.MemoryBytes >> 20} MiB", n.Replicas.ToString(CultureInfo.InvariantCulture),
                n.Labels is { Count: > 0 } l ? string.Join(',', l.Select(kv => kv.Key + "=" + kv.Value)) : "-", Common.Age(n.Joined),
            }));
            return Exit.Ok;
        });
        var name = new Argument<string>("name") { Description = "The node to drain and remove (tio node ls)" };
        var rm = new Command("-", "Drain a node (its replicas move to other nodes; waits until they run there), then remove it from the cluster") { name };
        rm.Aliases.Add("rm");
        Common.Run(rm, async (pr, ct) =>
        {
            var r = await Common.Client(pr, TimeSpan.FromSeconds(150)).NodeRemoveAsync(pr.GetValue(name)!, ct);
            Console.WriteLine($"{r.Node}: drained in {r.Milliseconds} ms ({r.Moved} replica(s) moved), removed from the cluster");
            foreach (var p in r.Pending) Console.WriteLine($"pending {p}");
            return Exit.Ok;
        });
        return new Command("node", "The cluster's nodes") { ls, rm };
    }
}
