using System.Text;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;
using Tinyo.Kv.Watch;

namespace Tinyo.Kv.Tests.Watch;

/// <summary>Reads at a past revision (get --rev) from the watch history, against states recorded as they happened.</summary>
public class HistoryReadTests
{
    private readonly KeyValueStore store = new();
    private long index;

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private void Put(string k, string v) => store.Apply(Command.Encode(CommandKind.Put, 0, 0, 0, (ref w) => new PutRequest(B(k), B(v)).Encode(ref w)), ++index);

    private void Delete(string k, string? end) => store.Apply(Command.Encode(CommandKind.DeleteRange, 0, 0, 0,
        (ref w) => new DeleteRangeRequest(B(k), end is null ? null : B(end)).Encode(ref w)), ++index);

    private static readonly RangeRequest All = new([0], [0]);

    private static string Render(RangeResponse r) => string.Join(";", r.Kvs.Select(kv =>
        $"{Encoding.UTF8.GetString(kv.Key)}={Encoding.UTF8.GetString(kv.Value)}@{kv.CreateRevision}/{kv.ModRevision}/{kv.Version}"));

    [Fact]
    public void EveryHeldRevisionReadsExactlyAsItWas()
    {
        var hub = new WatchHub(store);
        var rng = new Random(42);
        var states = new Dictionary<long, string>();
        for (var i = 0; i < 400; i++)
        {
            var k = $"k{rng.Next(12):D2}";
            switch (rng.Next(10))
            {
                case < 7:
                    Put(k, $"v{i}");
                    break;
                case < 9:
                    Delete(k, null);
                    break;
                default:
                    Delete(k, $"k{rng.Next(12):D2}~"); // a range: several keys in one revision
                    break;
            }
            states[store.Current.Revision] = Render(store.Current.Range(All));
        }
        var current = store.Current.Revision;
        foreach (var (rev, expected) in states)
            Assert.Equal(expected, Render(hub.RangeAt(All, rev)));

        // Ranges, limits and counts apply to the past state too.
        var mid = states.Keys.Order().ElementAt(states.Count / 2);
        var prefix = new RangeRequest(B("k0"), RangeRequest.PrefixEnd(B("k0")), Limit: 3);
        var past = hub.RangeAt(prefix, mid);
        var model = states[mid].Split(';', StringSplitOptions.RemoveEmptyEntries).Where(s => s.StartsWith("k0")).ToList();
        Assert.Equal(model.Count, past.Count);
        Assert.Equal(model.Take(3), Render(past).Split(';', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(model.Count > 3, past.More);
        Assert.Equal(current, past.Revision); // the header is the store's revision, as in etcd
    }

    [Fact]
    public void RevisionsCompactedOrOlderThanTheHistoryAreRefusedWithTheOldestReadable()
    {
        var hub = new WatchHub(store, maxEvents: 3);
        for (var i = 1; i <= 6; i++) Put("k", $"v{i}"); // history holds revisions 4..6: readable from 3 on
        Assert.Equal("v3", Encoding.UTF8.GetString(hub.RangeAt(new RangeRequest(B("k")), 3).Kvs[0].Value));
        var e = Assert.Throws<KvServerException>(() => hub.RangeAt(new RangeRequest(B("k")), 2));
        Assert.Equal(ErrorCode.Compacted, e.Code);
        Assert.Contains("the oldest readable is 3", e.Message);
        store.Apply(Command.Encode(CommandKind.Compact, 0, 0, 0, (ref w) => w.Var(5)), ++index);
        e = Assert.Throws<KvServerException>(() => hub.RangeAt(new RangeRequest(B("k")), 4));
        Assert.Equal(ErrorCode.Compacted, e.Code);
        Assert.Equal("v5", Encoding.UTF8.GetString(hub.RangeAt(new RangeRequest(B("k")), 5).Kvs[0].Value));
    }

    [Fact]
    public void APastRevisionCannotBeAskedForInsideATransaction()
    {
        var buf = new System.Buffers.ArrayBufferWriter<byte>();
        var w = new WireWriter(buf);
        w.Byte(1);
        new RangeRequest(B("k"), Revision: 3).Encode(ref w);
        var r = new WireReader(buf.WrittenSpan);
        try
        {
            TxnOp.Decode(ref r);
            Assert.Fail("decoded");
        }
        catch (ProtocolException e)
        {
            Assert.Contains("past", e.Message);
        }
    }
}
