using System.CommandLine;
using System.Globalization;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>tio node ls: the cluster's nodes from the KV registry (state from each node's liveness lease).</summary>
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
        return new Command("node", "The cluster's nodes") { ls };
    }
}
