using System.Text;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Tests.Cluster;

/// <summary>
/// Standby members (DotNext standby): they receive the log and serve serializable reads, never become leader,
/// but vote and count in the quorum like voters. These tests pin down all three facts.
/// </summary>
[Collection("cluster")]
public class StandbyTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task StandbyAddedByMemberAddReplicatesNeverLeadsAndCountsInTheQuorum()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var client = cluster.Client(cluster.Members.ToArray());
        for (var i = 0; i < 10; i++) await client.PutAsync(B($"s/{i}"), B("v"));

        var standby = cluster.NewMember();
        standby.Start(TestCluster.Token, "--standby");
        var admin = cluster.Members[0].ClientAddress;
        string[] cli = ["--endpoints", admin, "--token", TestCluster.Token];

        // The flag must match how the member runs; a mismatch changes nothing.
        var r = await RetryAsync(() => Binary.RunAsync([.. cli, "member", "add", standby.PeerAddress]));
        Assert.Equal(1, r.Code);
        Assert.Contains("runs as a standby", r.Err);
        Assert.Equal(3, (await client.MemberListAsync()).Count);
        r = await Binary.RunAsync([.. cli, "member", "add", "--standby", standby.PeerAddress]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("added as a standby", r.Out);
        await cluster.WaitForMembersAsync(4);
        var list = await client.MemberListAsync();
        Assert.Single(list, m => m.Standby && m.PeerAddress == standby.PeerAddress);
        Assert.Equal(3, list.Count(m => !m.Standby));
        r = await Binary.RunAsync([.. cli, "member", "list"]);
        Assert.Contains($"{standby.PeerAddress}, {standby.ClientAddress}, available, standby", r.Out);

        // A voter cannot be added as a standby.
        var voter = cluster.NewMember();
        voter.Start(TestCluster.Token);
        r = await RetryAsync(() => Binary.RunAsync([.. cli, "member", "add", "--standby", voter.PeerAddress]));
        Assert.Equal(1, r.Code);
        Assert.Contains("runs as a voter", r.Err);
        voter.Kill();
        cluster.Members.Remove(voter);

        // It receives the log and serves serializable reads.
        var onStandby = cluster.Client(standby);
        await client.PutAsync(B("s/after-add"), B("v"));
        var deadline = DateTime.UtcNow.AddSeconds(20);
        long count;
        do
        {
            await Task.Delay(100);
            count = (await onStandby.RangeAsync(new RangeRequest(B("s/"), RangeRequest.PrefixEnd(B("s/")), CountOnly: true, Serializable: true))).Count;
        } while (count < 11 && DateTime.UtcNow < deadline);
        Assert.Equal(11, count);
        Assert.NotNull(await onStandby.GetAsync(B("s/after-add"))); // linearizable, through the read barrier

        // Kill the leader: a voter takes over, never the standby (4 members, quorum 3: two voters and the standby).
        var leader = await cluster.LeaderAsync();
        leader.Kill();
        var next = await cluster.LeaderAsync();
        Assert.NotSame(standby, next);
        Assert.Equal("standby", (await onStandby.StatusAsync()).Role);
        await cluster.Client(cluster.Members.Where(m => m.Running).ToArray()).PutAsync(B("s/after-kill"), B("v"));

        // Kill another voter: one voter and the standby are 2 of 4, no quorum. The standby counts like a voter
        // (DotNext has no non-voting learner), so writes stop instead of going on with one voter.
        next.Kill();
        await using var lone = new KvClient(new KvClientOptions
        {
            Endpoints = cluster.Members.Where(m => m.Running).Select(m => Endpoints.Parse(m.ClientAddress)).ToList(),
            Token = TestCluster.Token,
            RequestTimeout = TimeSpan.FromSeconds(4),
        });
        var e = await Assert.ThrowsAsync<KvServerException>(() => lone.PutAsync(B("s/no-quorum"), B("v")));
        Assert.Equal(ErrorCode.Unavailable, e.Code);
        Assert.NotEqual("leader", (await onStandby.StatusAsync()).Role);
    }

    /// <summary>A member just started may not listen yet: retry a CLI call while it cannot be reached.</summary>
    private static async Task<(int Code, string Out, string Err)> RetryAsync(Func<Task<(int Code, string Out, string Err)>> run)
    {
        for (var i = 0; ; i++)
        {
            var r = await run();
            if (r.Code == 0 || !r.Err.Contains("cannot reach") || i == 20) return r;
            await Task.Delay(250);
        }
    }
}
