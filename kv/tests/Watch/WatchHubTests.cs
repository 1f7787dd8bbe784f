using System.Text;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;
using Tinyo.Kv.Watch;

namespace Tinyo.Kv.Tests.Watch;

/// <summary>Watch history and delivery in-process.</summary>
public class WatchHubTests
{
    private readonly KeyValueStore store = new();
    private long index;

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private void Put(string k, string v) => store.Apply(Command.Encode(CommandKind.Put, 0, 0, 0, (ref w) => new PutRequest(B(k), B(v)).Encode(ref w)), ++index);

    private static List<(long, List<WatchEvent>)> Drain(Watcher w)
    {
        var list = new List<(long, List<WatchEvent>)>();
        while (w.Channel.Reader.TryRead(out var batch)) list.Add(batch);
        return list;
    }

    [Fact]
    public void WatchFromAPastRevisionReplaysThenFollowsLive()
    {
        var hub = new WatchHub(store);
        Put("a/1", "x");   // rev 1
        Put("b/1", "x");   // rev 2
        Put("a/2", "x");   // rev 3
        var w = hub.Watch(B("a/"), RangeRequest.PrefixEnd(B("a/")), startRevision: 2, prevKv: false);
        Put("a/1", "y");   // rev 4
        var got = Drain(w);
        Assert.Equal([3L, 4L], got.Select(b => b.Item1));
        Assert.All(got, b => Assert.All(b.Item2, e => Assert.StartsWith("a/", Encoding.UTF8.GetString(e.Kv.Key))));
        Assert.Equal(5, w.NextRevision);
    }

    [Fact]
    public void RevisionsBeforeCompactionOrOutsideHistoryAreRefusedWithTheOldestAvailable()
    {
        var hub = new WatchHub(store, maxEvents: 3);
        for (var i = 0; i < 6; i++) Put($"k{i}", "v"); // history keeps the last 3 revisions: 4..6
        var e = Assert.Throws<KvServerException>(() => hub.Watch(B("k0"), null, 2, false));
        Assert.Equal(ErrorCode.Compacted, e.Code);
        Assert.Contains("oldest available is 4", e.Message);
        store.Apply(Command.Encode(CommandKind.Compact, 0, 0, 0, (ref w) => w.Var(5)), ++index);
        Assert.Equal(ErrorCode.Compacted, Assert.Throws<KvServerException>(() => hub.Watch(B("k0"), null, 4, false)).Code);
        hub.Watch(B("k0"), null, 5, false);
    }

    [Fact]
    public void DeleteEventsCarryThePreviousValueWhenAsked()
    {
        var hub = new WatchHub(store);
        Put("k", "old");
        var w = hub.Watch(B("k"), null, 0, prevKv: true);
        store.Apply(Command.Encode(CommandKind.DeleteRange, 0, 0, 0, (ref wr) => new DeleteRangeRequest(B("k")).Encode(ref wr)), ++index);
        var batch = Assert.Single(Drain(w));
        var ev = Assert.Single(batch.Item2);
        Assert.Equal(WatchEventType.Delete, ev.Type);
        Assert.Equal("old", Encoding.UTF8.GetString(ev.PrevKv!.Value));
    }
}
