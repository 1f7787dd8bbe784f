using System.Text;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Tests.Cluster;

/// <summary>
/// The two memory settings of the WAL (<c>--wal-memory</c>) and the watch window (<c>--watch-history</c>) on real
/// processes: the shared mapping keeps every acknowledged write across kill -9 of all members too, the window bounds
/// how far back <c>get --rev</c> reads, and bad values are refused by name before anything is created.
/// </summary>
[Collection("cluster")]
public class WalSettingsTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task SharedWalKeepsAcknowledgedWritesAcrossKillOfAllAndTheWindowBoundsPastReads()
    {
        await using var cluster = await TestCluster.StartAsync(3, "--wal-memory", "shared", "--watch-history", "5");
        var client = cluster.Client();
        var revisions = new List<long>();
        for (var i = 0; i < 20; i++) revisions.Add((await client.PutAsync(B($"s/{i:D2}"), B($"v{i}"))).Revision);

        // 5 events held: the 4th newest revision is readable, the first one is not (and the error says so).
        var recent = await client.RangeAsync(new RangeRequest(B("s/17"), Revision: revisions[17]));
        Assert.Equal("v17", Encoding.UTF8.GetString(recent.Kvs.Single().Value));
        var e = await Assert.ThrowsAsync<KvServerException>(() => client.RangeAsync(new RangeRequest(B("s/00"), Revision: revisions[0])));
        Assert.Equal(ErrorCode.Compacted, e.Code);

        foreach (var m in cluster.Members) m.Kill(); // SIGKILL, all at once
        foreach (var m in cluster.Members) m.Start(TestCluster.Token, ["--wal-memory", "shared", "--watch-history", "5"]);
        await cluster.WaitForMembersAsync(3);
        var all = await cluster.Client().RangeAsync(new RangeRequest(B("s/"), RangeRequest.PrefixEnd(B("s/"))));
        Assert.Equal(20, all.Kvs.Count);
        Assert.Equal("v19", Encoding.UTF8.GetString(all.Kvs[^1].Value));
    }

    [Fact]
    public async Task BadWalMemoryAndWatchHistoryAreClearErrors()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tinyokv-walflags-" + Guid.NewGuid().ToString("N"));
        try
        {
            string[] serve = ["serve", "--data-dir", dir, "--token", "t", "--listen-peer", $"127.0.0.1:{TestCluster.FreePort()}",
                "--listen-client", $"127.0.0.1:{TestCluster.FreePort()}", "--bootstrap"];
            var r = await Binary.RunAsync([.. serve, "--wal-memory", "mapped"]);
            Assert.Equal(1, r.Code);
            Assert.Contains("--wal-memory must be private or shared, not 'mapped'", r.Err);
            r = await Binary.RunAsync([.. serve, "--watch-history", "0"]);
            Assert.Equal(1, r.Code);
            Assert.Contains("--watch-history must be positive", r.Err);
            Assert.False(Directory.Exists(dir), "a refused start must not create the data dir");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
