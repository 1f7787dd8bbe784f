using System.Text;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Tests.Cluster;

/// <summary>get --rev through the CLI, compaction, and the history a member holds again after kill -9.</summary>
[Collection("cluster")]
public class HistoryTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task GetAtAPastRevisionCompactionAndRestart()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        var m = cluster.Members[0];
        var client = cluster.Client();
        long first = 0;
        for (var i = 1; i <= 5; i++)
        {
            var rev = (await client.PutAsync(B("k"), B($"v{i}"))).Revision;
            if (i == 1) first = rev;
        }
        string[] cli = ["--endpoints", m.ClientAddress, "--token", TestCluster.Token];

        var r = await Binary.RunAsync([.. cli, "get", "k", "--rev", (first + 1).ToString()]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal("k\nv2\n", r.Out);
        r = await Binary.RunAsync([.. cli, "get", "k", "--rev", (first + 100).ToString()]);
        Assert.Equal(1, r.Code);
        Assert.Contains("is in the future", r.Err);

        // After kill -9 the member replays its log and holds the same history again.
        m.Kill();
        m.Start(TestCluster.Token);
        await cluster.WaitForMembersAsync(1);
        r = await Binary.RunAsync([.. cli, "get", "k", "--rev", (first + 3).ToString(), "-o", "json"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("\"value\":\"v4\"", r.Out);

        // Compaction: older revisions are a clear error naming the oldest readable one.
        await client.CompactAsync(first + 2);
        r = await Binary.RunAsync([.. cli, "get", "k", "--rev", (first + 1).ToString()]);
        Assert.Equal(1, r.Code);
        Assert.Contains($"revision {first + 1} is compacted", r.Err);
        Assert.Contains($"the oldest readable is {first + 2}", r.Err);
        r = await Binary.RunAsync([.. cli, "get", "k", "--rev", (first + 2).ToString()]);
        Assert.Equal("k\nv3\n", r.Out);
        var e = await Assert.ThrowsAsync<KvServerException>(() => client.RangeAsync(new RangeRequest(B("k"), Revision: first)));
        Assert.Equal(ErrorCode.Compacted, e.Code);
    }
}
