using System.Diagnostics;
using System.Text;
using Tinyo.Kv.Tests.Cluster;

namespace Tinyo.Kv.Tests.Linearizability;

/// <summary>Concurrent clients against a real 3-member group, a leader killed midway; the history must be linearizable.</summary>
[Collection("cluster")]
public class LinearizabilityTests
{
    [Fact]
    public async Task PutsAndLinearizableGetsAcrossALeaderKillAreLinearizable()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var history = new List<(string Key, KvOp Op)>();
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, 4).Select(c => Task.Run(async () =>
        {
            var client = cluster.Client();
            var rnd = new Random(c);
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var key = $"lin/{rnd.Next(3)}";
                var isPut = rnd.Next(2) == 0;
                var value = $"c{c}-{n}";
                var call = Stopwatch.GetTimestamp();
                try
                {
                    string? seen = null;
                    if (isPut) await client.PutAsync(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(value));
                    else seen = (await client.GetAsync(Encoding.UTF8.GetBytes(key))) is { } kv ? Encoding.UTF8.GetString(kv.Value) : null;
                    var ret = Stopwatch.GetTimestamp();
                    lock (history) history.Add((key, new KvOp(call, ret, isPut, isPut ? value : seen)));
                }
                catch (KvException)
                {
                    // Unknown outcome: a put may still take effect later; a failed get tells nothing.
                    if (isPut) lock (history) history.Add((key, new KvOp(call, long.MaxValue, true, value)));
                }
            }
        })).ToList();
        await Task.Delay(1500);
        (await cluster.LeaderAsync()).Kill();
        await Task.Delay(2500);
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        Assert.True(history.Count > 50, $"only {history.Count} operations recorded");
        foreach (var group in history.GroupBy(h => h.Key))
        {
            var ops = group.Select(h => h.Op).ToList();
            Assert.True(KvChecker.IsLinearizable(ops), $"history of {group.Key} ({ops.Count} operations) is not linearizable");
        }
    }
}
