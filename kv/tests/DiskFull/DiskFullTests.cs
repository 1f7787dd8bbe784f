using Tinyo.Rt.Tests.Fixtures;
using System.Text;
using Tinyo.Kv.Protocol;
using Tinyo.Kv.Tests.Cluster;

namespace Tinyo.Kv.Tests.DiskFull;

/// <summary>
/// tinyokv whose data directory is a tmpfs of a few MiB that fills up (issue 10, item 7): the member must not crash
/// (it died of SIGBUS on its memory-mapped WAL), must refuse writes with a clear error, keep serving reads, and
/// take writes again once space is freed.
/// </summary>
[Collection("cluster")]
public class DiskFullTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    [SkippableFact]
    public async Task A_full_data_disk_refuses_writes_keeps_reads_and_recovers()
    {
        using var disk = new SmallTmpfs(24 * 1024);
        Skip.If(disk.Unavailable is not null, "needs root to mount a tmpfs");
        await using var cluster = new TestCluster();
        var m = new Member("m1", Path.Combine(disk.Dir, "data"), TestCluster.FreePort(), TestCluster.FreePort());
        cluster.Members.Add(m);
        m.Start(TestCluster.Token, "--bootstrap");
        await cluster.WaitForMembersAsync(1);
        var client = cluster.Client();
        for (var i = 0; i < 10; i++) await client.PutAsync(B($"before/{i}"), B($"value {i}"));

        // Something else fills the disk (a pull, a log): then writes, big and small, are refused with the cause.
        disk.Fill();
        var value = new byte[64 << 10];
        for (var i = 0; i < 20; i++)
        {
            var e = await Assert.ThrowsAsync<KvServerException>(() => client.PutAsync(B($"full/{i}"), i % 2 == 0 ? value : B("x")));
            Assert.Equal(ErrorCode.NoSpace, e.Code);
            Assert.Contains("no space left on device", e.Message, StringComparison.Ordinal);
        }
        Assert.True(m.Running, "tinyokv died on a full disk:\n" + m.Log);

        // Reads keep working.
        var kv = await client.GetAsync(B("before/3"));
        Assert.Equal("value 3", Encoding.UTF8.GetString(kv!.Value));
        Assert.Equal(10, (await client.RangeAsync(new RangeRequest(B("before/"), RangeRequest.PrefixEnd(B("before/"))))).Count);

        // Space freed: writes work again, and what was written is there.
        File.Delete(Path.Combine(disk.Dir, "filler"));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                await client.PutAsync(B("after"), value);
                break;
            }
            catch (KvServerException e) when (e.Code == ErrorCode.NoSpace && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
        Assert.Equal(value.Length, (await client.GetAsync(B("after")))!.Value.Length);
        Assert.True(m.Running, "tinyokv died after space was freed:\n" + m.Log);
    }

    [SkippableFact]
    public async Task A_store_that_fills_its_own_disk_stops_taking_writes_without_crashing()
    {
        using var disk = new SmallTmpfs(16 * 1024);
        Skip.If(disk.Unavailable is not null, "needs root to mount a tmpfs");
        await using var cluster = new TestCluster();
        var m = new Member("m1", Path.Combine(disk.Dir, "data"), TestCluster.FreePort(), TestCluster.FreePort());
        cluster.Members.Add(m);
        m.Start(TestCluster.Token, "--bootstrap");
        await cluster.WaitForMembersAsync(1);
        var client = cluster.Client();
        var value = new byte[256 << 10];
        KvServerException? refused = null;
        for (var i = 0; i < 200 && refused is null; i++)
        {
            try
            {
                await client.PutAsync(B($"k/{i}"), value);
            }
            catch (KvServerException e) when (e.Code == ErrorCode.NoSpace)
            {
                refused = e;
            }
        }
        Assert.NotNull(refused);
        Assert.Contains("no space left on device", refused.Message, StringComparison.Ordinal);
        Assert.True(m.Running, "tinyokv died filling its disk:\n" + m.Log);
        Assert.NotNull(await client.GetAsync(B("k/0")));
        // Deleting is how an operator frees the store's space: it is still accepted.
        await client.DeleteAsync(new DeleteRangeRequest(B("k/1")));
    }
}
