using System.Text;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Tests.Cluster;

/// <summary>Graceful leave: a member steps down if it leads, is removed from the configuration, and stops.</summary>
[Collection("cluster")]
public class LeaveTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task LeaderLeavesThenAFollowerLeavesOnSigtermAndWritesContinue()
    {
        await using var cluster = await TestCluster.StartAsync(3, "--leave-on-stop");
        var leader = await cluster.LeaderAsync();
        var others = cluster.Members.Where(m => m != leader).ToArray();
        var client = cluster.Client(others);
        await client.PutAsync(B("before"), B("3 members"));

        // The leader leaves: it steps down, the other two elect a leader and remove it, and its process ends.
        var r = await Binary.RunAsync(["--endpoints", leader.ClientAddress, "--token", TestCluster.Token, "member", "leave"]);
        Assert.True(r.Code == 0, r.Err + cluster.Logs());
        Assert.Contains("left the group", r.Out);
        Assert.Equal(0, await leader.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        Assert.Contains("left the group", leader.Log);
        var list = await client.MemberListAsync();
        Assert.Equal(2, list.Count);
        Assert.DoesNotContain(list, m => m.PeerAddress == leader.PeerAddress);
        Assert.Single(list, m => m.IsLeader);
        await client.PutAsync(B("after-leader-left"), B("2 members"));

        // A follower stopped with SIGTERM and --leave-on-stop leaves too: the last member is a group of one that
        // still takes writes (had it been killed instead, one of two would be no quorum).
        var newLeader = await cluster.LeaderAsync();
        var follower = others.Single(m => m != newLeader);
        follower.Terminate();
        Assert.Equal(0, await follower.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("left the group", follower.Log);
        var last = cluster.Client(newLeader);
        list = await last.MemberListAsync();
        Assert.Single(list);
        await last.PutAsync(B("after-follower-left"), B("1 member"));
        Assert.Equal(3, (await last.RangeAsync(new RangeRequest(B("a"), B("c")))).Count);

        // The last member cannot leave; the error says so and it keeps serving.
        r = await Binary.RunAsync(["--endpoints", newLeader.ClientAddress, "--token", TestCluster.Token, "member", "leave"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("the last member cannot leave", r.Err);
        await last.PutAsync(B("still"), B("serving"));
    }
}
