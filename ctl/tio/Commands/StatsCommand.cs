using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Api.Statefile;

namespace Tinyo.Ctl.Cli.Commands;

/// <summary>
/// tio stats [APP]: CPU, memory, network bytes and restarts of each replica on the node (as docker stats). CPU % is
/// the CPU time used between two samples an interval apart over that interval (100 % = one core busy); memory and the
/// network counters are the second sample's. With --watch it samples again every interval until Ctrl-C.
/// </summary>
internal static class StatsCommand
{
    public static Command Create()
    {
        var app = new Argument<string?>("app") { Description = "Only this app's replicas", Arity = ArgumentArity.ZeroOrOne };
        var interval = new Option<double>("--interval", "-i") { Description = "Seconds between the two samples CPU % is taken from (0.2–60)", DefaultValueFactory = _ => 1 };
        var watch = new Option<bool>("--watch", "-w") { Description = "Keep sampling every interval until Ctrl-C" };
        var output = new Option<string>("--output", "-o") { Description = "table, or json (one sample of the raw counters, no CPU %)", DefaultValueFactory = _ => "table" };
        output.AcceptOnlyFromAmong("table", "json");
        var cmd = new Command("stats", "Show CPU %, memory, network bytes and restarts of the replicas on this node (all apps, or APP's)")
        {
            app, interval, watch, output,
        };
        Common.Run(cmd, async (pr, ct) =>
        {
            var name = pr.GetValue(app);
            if (name is not null && !Statefile.IsValidName(name)) throw new UsageException($"invalid app name '{name}': 1-63 of a-z, 0-9 and '-'");
            var every = pr.GetValue(interval);
            if (!(every is >= 0.2 and <= 60)) throw new UsageException($"--interval {every.ToString(CultureInfo.InvariantCulture)}: expected 0.2 to 60 seconds");
            var client = Common.Client(pr);
            var before = await client.StatsAsync(name, ct);
            if (pr.GetValue(output) == "json")
            {
                Console.WriteLine(JsonSerializer.Serialize(before, StatsJson.Default.NodeStats));
                return Exit.Ok;
            }
            do
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(every), ct);
                }
                catch (OperationCanceledException)
                {
                    return Exit.Ok;
                }
                var after = await client.StatsAsync(name, ct);
                if (pr.GetValue(watch) && !Console.IsOutputRedirected) Console.Write("\e[H\e[2J");
                Print(before, after, name);
                before = after;
            }
            while (pr.GetValue(watch) && !ct.IsCancellationRequested);
            return Exit.Ok;
        });
        return cmd;
    }

    private static void Print(NodeStats before, NodeStats after, string? app)
    {
        if (after.Replicas.Count == 0)
        {
            Console.WriteLine(app is null ? $"no replicas on node {after.Node}" : $"no replicas of {app} on node {after.Node}");
            return;
        }
        var seconds = (after.Sampled - before.Sampled).TotalSeconds;
        var earlier = before.Replicas.ToDictionary(r => r.Replica, StringComparer.Ordinal);
        Common.Table(["REPLICA", "APP", "STATE", "CPU %", "MEMORY", "NET RX", "NET TX", "RESTARTS"], after.Replicas.Select(r => new[]
        {
            r.Replica, r.App, r.State, CpuPercent(earlier.GetValueOrDefault(r.Replica), r, seconds),
            r.MemoryBytes is { } m ? Bytes(m) + (r.MemoryLimit is { } l ? " / " + Bytes(l) : "") : "-",
            r.RxBytes is { } rx ? Bytes(rx) : "-", r.TxBytes is { } tx ? Bytes(tx) : "-", r.Restarts.ToString(CultureInfo.InvariantCulture),
        }));
    }

    /// <summary>CPU time between the samples over the time between them; "-" without two samples of a running replica
    /// (or after a restart, when the counter started again).</summary>
    internal static string CpuPercent(ReplicaStats? before, ReplicaStats after, double seconds)
    {
        if (before?.CpuNanos is not { } a || after.CpuNanos is not { } b || b < a || seconds <= 0 || before.Restarts != after.Restarts) return "-";
        return ((b - a) / (seconds * 1e9) * 100).ToString("0.0", CultureInfo.InvariantCulture);
    }

    /// <summary>Bytes in binary units: 512 B, 3.2 KiB, 41.0 MiB, 1.5 GiB.</summary>
    internal static string Bytes(long n)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = n;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1)
        {
            v /= 1024;
            u++;
        }
        return u == 0 ? $"{n} B" : v.ToString("0.0", CultureInfo.InvariantCulture) + " " + units[u];
    }
}
