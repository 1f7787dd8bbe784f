using System.Text;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Tests.Mvcc;

/// <summary>The MVCC state machine in-process: etcd v3 semantics, sessions, snapshots.</summary>
public class KeyValueStoreTests
{
    private readonly KeyValueStore store = new();
    private long index;

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private byte[] Run(CommandKind kind, BodyEncoder body, ulong client = 0, ulong seq = 0, ulong acked = 0)
        => store.Apply(Command.Encode(kind, client, seq, acked, body), ++index);

    private PutResponse Put(string k, string v, long lease = 0, bool prev = false, ulong client = 0, ulong seq = 0)
    {
        var reply = Run(CommandKind.Put, (ref w) => new PutRequest(B(k), B(v), lease, prev).Encode(ref w), client, seq);
        var r = Reply.Open(reply);
        return PutResponse.Decode(ref r);
    }

    private DeleteRangeResponse Del(string k, byte[]? end = null)
    {
        var r = Reply.Open(Run(CommandKind.DeleteRange, (ref w) => new DeleteRangeRequest(B(k), end, true).Encode(ref w)));
        return DeleteRangeResponse.Decode(ref r);
    }

    private TxnResponse Txn(TxnRequest t)
    {
        var r = Reply.Open(Run(CommandKind.Txn, (ref w) => t.Encode(ref w)));
        return TxnResponse.Decode(ref r);
    }

    [Fact]
    public void BatchEntryAppliesEachCommandAsItsOwnEntryWould()
    {
        static byte[] PutCmd(string k, string v, ulong client, ulong seq) =>
            Command.Encode(CommandKind.Put, client, seq, 0, (ref w) => new PutRequest(B(k), B(v), 0, true).Encode(ref w));
        // The same four commands, once as separate entries and once as one batch entry (a retry of seq 1 included).
        byte[][] commands = [PutCmd("a", "1", 7, 1), PutCmd("b", "1", 7, 2), PutCmd("a", "2", 9, 1), PutCmd("a", "1", 7, 1)];
        var separate = new KeyValueStore();
        var expected = commands.Select((c, i) => separate.Apply(c, i + 1)).ToArray();
        var replies = store.ApplyEntry(Command.EncodeBatch(commands), 1);

        Assert.Equal(expected.Length, replies.Length);
        for (var i = 0; i < replies.Length; i++) Assert.Equal(expected[i], replies[i]);
        Assert.Equal(replies[0], replies[3]); // the retried write was answered from the session, not applied again
        Assert.Equal(3, store.Current.Revision);
        Assert.Equal(1, store.Current.AppliedIndex);
        var a = store.Current.Get(B("a"))!;
        Assert.Equal((1L, 3L, 2L, "2"), (a.CreateRevision, a.ModRevision, a.Version, Encoding.UTF8.GetString(a.Value)));
        Assert.Single(store.ApplyEntry(PutCmd("c", "1", 7, 3), 2)); // a plain entry still answers once
    }

    [Fact]
    public void PutBumpsRevisionAndTracksCreateModVersion()
    {
        Assert.Equal(1, Put("a", "1").Revision);
        Assert.Equal(2, Put("b", "1").Revision);
        var third = Put("a", "2", prev: true);
        Assert.Equal(3, third.Revision);
        Assert.Equal("1", Encoding.UTF8.GetString(third.PrevKv!.Value));
        var a = store.Current.Get(B("a"))!;
        Assert.Equal((1L, 3L, 2L), (a.CreateRevision, a.ModRevision, a.Version));
        Assert.Equal(3, store.Current.Revision);
    }

    [Fact]
    public void DeleteResetsVersionAndEmptyDeleteKeepsRevision()
    {
        Put("a", "1");
        Put("a", "2");
        var d = Del("a");
        Assert.Equal(1, d.Deleted);
        Assert.Equal(3, d.Revision);
        Assert.Equal(3, Del("a").Revision); // nothing deleted: no new revision
        Put("a", "3");
        var a = store.Current.Get(B("a"))!;
        Assert.Equal((4L, 4L, 1L), (a.CreateRevision, a.ModRevision, a.Version));
    }

    [Fact]
    public void RangeByPrefixWithLimitAndContinuation()
    {
        foreach (var k in new[] { "app/a", "app/b", "app/c", "app/d", "apq", "ap" }) Put(k, "v");
        var end = RangeRequest.PrefixEnd(B("app/"));
        var page1 = store.Current.Range(new RangeRequest(B("app/"), end, Limit: 3));
        Assert.Equal(4, page1.Count);
        Assert.True(page1.More);
        Assert.Equal(["app/a", "app/b", "app/c"], page1.Kvs.Select(kv => Encoding.UTF8.GetString(kv.Key)));
        var next = page1.Kvs[^1].Key.Append((byte)0).ToArray();
        var page2 = store.Current.Range(new RangeRequest(next, end, Limit: 3));
        Assert.False(page2.More);
        Assert.Equal(["app/d"], page2.Kvs.Select(kv => Encoding.UTF8.GetString(kv.Key)));
        Assert.Equal(6, store.Current.Range(new RangeRequest([0], [0], CountOnly: true)).Count);
    }

    [Fact]
    public void DeletePrefixRemovesOnlyThatPrefix()
    {
        foreach (var k in new[] { "x/1", "x/2", "x0", "y" }) Put(k, "v");
        var d = Del("x/", RangeRequest.PrefixEnd(B("x/")));
        Assert.Equal(2, d.Deleted);
        Assert.Equal(2, d.PrevKvs.Count);
        Assert.Equal(2, store.Current.Count);
    }

    [Fact]
    public void TxnComparesModRevisionForCompareAndSwap()
    {
        var rev = Put("lock", "free").Revision;
        var cas = new TxnRequest(
            [new Compare(B("lock"), CompareTarget.Mod, CompareResult.Equal, rev)],
            [new TxnOp(Put: new PutRequest(B("lock"), B("mine")))],
            [new TxnOp(Range: new RangeRequest(B("lock")))]);
        var first = Txn(cas);
        Assert.True(first.Succeeded);
        Assert.Equal(rev + 1, first.Revision);
        var second = Txn(cas);
        Assert.False(second.Succeeded);
        Assert.Equal("mine", Encoding.UTF8.GetString(second.Responses[0].Range!.Kvs[0].Value));
        Assert.Equal(rev + 1, second.Revision); // a failed read-only branch does not bump the revision
    }

    [Fact]
    public void TxnVersionZeroMeansAbsentAndValueCompareOnAbsentIsFalse()
    {
        var create = new TxnRequest(
            [new Compare(B("k"), CompareTarget.Version, CompareResult.Equal, 0)],
            [new TxnOp(Put: new PutRequest(B("k"), B("1")))], []);
        Assert.True(Txn(create).Succeeded);
        Assert.False(Txn(create).Succeeded);
        var valueOnAbsent = new TxnRequest([new Compare(B("nope"), CompareTarget.Value, CompareResult.NotEqual, Value: B("x"))], [], []);
        Assert.False(Txn(valueOnAbsent).Succeeded);
    }

    [Fact]
    public void RetriedRequestOfASessionIsAnsweredFromCacheNotAppliedTwice()
    {
        var first = Put("n", "1", client: 7, seq: 1);
        var again = Put("n", "1", client: 7, seq: 1);
        Assert.Equal(first.Revision, again.Revision);
        Assert.Equal(1, store.Current.Get(B("n"))!.Version);
        // After the client acknowledged seq 1 (acked-below 2), a replay of 1 is refused, not re-applied.
        Run(CommandKind.Put, (ref w) => new PutRequest(B("m"), B("x")).Encode(ref w), 7, 2, acked: 2);
        var stale = Run(CommandKind.Put, (ref w) => new PutRequest(B("n"), B("1")).Encode(ref w), 7, 1);
        var e = Assert.Throws<KvServerException>(() => Reply.Open(stale));
        Assert.Equal(ErrorCode.StaleRequest, e.Code);
        Assert.Equal(1, store.Current.Get(B("n"))!.Version);
    }

    [Fact]
    public void LeaseRevokeDeletesAttachedKeysInOneRevision()
    {
        Reply.Open(Run(CommandKind.LeaseGrant, (ref w) => { w.Var(42); w.Var(10); }));
        Put("s/1", "a", lease: 42);
        Put("s/2", "b", lease: 42);
        Put("t", "c");
        var rev = store.Current.Revision;
        var r = Reply.Open(Run(CommandKind.LeaseRevoke, (ref w) => w.Var(42)));
        Assert.Equal(rev + 1, r.Var());
        Assert.Equal(1, store.Current.Count);
        var e = Assert.Throws<KvServerException>(() => Put("u", "x", lease: 42));
        Assert.Equal(ErrorCode.LeaseNotFound, e.Code);
    }

    [Fact]
    public void CompactRejectsFutureAndRepeatedRevisions()
    {
        Put("a", "1");
        Put("a", "2");
        Reply.Open(Run(CommandKind.Compact, (ref w) => w.Var(2)));
        Assert.Equal(2, store.Current.CompactRevision);
        Assert.Equal(ErrorCode.Compacted, Assert.Throws<KvServerException>(() => Reply.Open(Run(CommandKind.Compact, (ref w) => w.Var(1)))).Code);
        Assert.Equal(ErrorCode.FutureRevision, Assert.Throws<KvServerException>(() => Reply.Open(Run(CommandKind.Compact, (ref w) => w.Var(99)))).Code);
    }

    [Fact]
    public void SnapshotRoundTripsKeysLeasesAndSessions()
    {
        Reply.Open(Run(CommandKind.LeaseGrant, (ref w) => { w.Var(5); w.Var(30); }));
        for (var i = 0; i < 1000; i++) Put($"k/{i:D4}", $"v{i}", lease: i % 10 == 0 ? 5 : 0);
        Put("dedup", "x", client: 9, seq: 3);
        using var ms = new MemoryStream();
        store.Capture().WriteTo(ms);

        var copy = new KeyValueStore();
        ms.Position = 0;
        copy.Restore(ms);
        Assert.Equal(store.Current.Revision, copy.Current.Revision);
        Assert.Equal(store.Current.Count, copy.Current.Count);
        Assert.Equal(store.Current.AppliedIndex, copy.Current.AppliedIndex);
        Assert.Equal(30, copy.LeaseTtls[5]);
        // The session survived: the retry is answered from cache, with the original revision.
        var again = copy.Apply(Command.Encode(CommandKind.Put, 9, 3, 0, (ref w) => new PutRequest(B("dedup"), B("x")).Encode(ref w)), index + 1);
        var r = Reply.Open(again);
        Assert.Equal(store.Current.Get(B("dedup"))!.ModRevision, PutResponse.Decode(ref r).Revision);
        // Revoking the lease on the copy deletes its 100 keys: attachments survived too.
        copy.Apply(Command.Encode(CommandKind.LeaseRevoke, 0, 0, 0, (ref w) => w.Var(5)), index + 2);
        Assert.Equal(store.Current.Count - 100, copy.Current.Count);
    }

    [Fact]
    public void CorruptOrTruncatedSnapshotIsRefusedAndStoreUnchanged()
    {
        Put("a", "1");
        using var ms = new MemoryStream();
        store.Capture().WriteTo(ms);
        var bytes = ms.ToArray();
        var target = new KeyValueStore();
        var truncated = bytes[..^5];
        Assert.Contains("snapshot", Assert.Throws<KvException>(() => target.Restore(new MemoryStream(truncated))).Message);
        bytes[bytes.Length / 2] ^= 0xFF;
        Assert.ThrowsAny<KvException>(() => target.Restore(new MemoryStream(bytes)));
        Assert.Equal(0, target.Current.Revision);
    }

    [Fact]
    public void MalformedCommandIsAnsweredWithBadRequest()
    {
        var reply = store.Apply([(byte)CommandKind.Put, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1], 1);
        Assert.Equal(ErrorCode.BadRequest, Assert.Throws<KvServerException>(() => Reply.Open(reply)).Code);
    }
}
