using System.Text;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;
using Tinyo.Kv.Watch;

namespace Tinyo.Kv.Tests.Mvcc;

/// <summary>
/// <see cref="KeyValueStore.ApplyReplicated"/> in-process: a store fed the events another store raised (as a
/// learner is fed the watch stream) holds the same keys, revisions and versions after every entry, starting
/// from a snapshot of the source, and its own watch history answers past-revision reads like the source's.
/// </summary>
public class ReplicaTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static string Dump(IEnumerable<KeyValue> kvs)
        => string.Join("; ", kvs.Select(kv => $"{Encoding.UTF8.GetString(kv.Key)}={Encoding.UTF8.GetString(kv.Value)} c{kv.CreateRevision} m{kv.ModRevision} v{kv.Version} l{kv.Lease}"));

    private static string Dump(StoreView v)
        => $"rev {v.Revision} count {v.Count} bytes {v.DataBytes}: " + Dump(v.Range(new RangeRequest([], [0])).Kvs);

    [Fact]
    public void ReplicaFedTheSourceEventsMatchesItAfterEveryEntry()
    {
        var source = new KeyValueStore();
        long index = 0;
        byte[] Run(CommandKind kind, BodyEncoder body) => source.Apply(Command.Encode(kind, 0, 0, 0, body), ++index);

        // A start state, copied by snapshot as a learner does.
        Run(CommandKind.LeaseGrant, (ref w) => { w.Var(5); w.Var(60); });
        for (var i = 0; i < 20; i++) Run(CommandKind.Put, (ref w) => new PutRequest(B($"k/{i % 7}"), B($"v{i}"), i % 3 == 0 ? 5 : 0).Encode(ref w));
        using var snap = new MemoryStream();
        source.Capture().WriteTo(snap);
        var replica = new KeyValueStore();
        snap.Position = 0;
        replica.Restore(snap);
        Assert.Equal(source.Current.Revision, KeyValueStore.SnapshotRevision(snap.ToArray()));
        var history = new WatchHub(replica);
        var sourceHistory = new WatchHub(source);
        var applied = new List<long>();
        source.Changed += (rev, events) =>
        {
            if (replica.ApplyReplicated(rev, events)) applied.Add(rev);
        };

        var random = new Random(42);
        for (var step = 0; step < 400; step++)
        {
            var k = $"k/{random.Next(12)}";
            switch (random.Next(7))
            {
                case 0 or 1 or 2:
                    Run(CommandKind.Put, (ref w) => new PutRequest(B(k), B($"s{step}"), random.Next(4) == 0 ? 5 : 0).Encode(ref w));
                    break;
                case 3:
                    Run(CommandKind.DeleteRange, (ref w) => new DeleteRangeRequest(B(k), random.Next(2) == 0 ? null : B("k/5")).Encode(ref w));
                    break;
                case 4:
                    Run(CommandKind.Txn, (ref w) => new TxnRequest(
                        [new Compare(B(k), CompareTarget.Version, CompareResult.Greater, 1)],
                        [new TxnOp(Put: new PutRequest(B("t/a"), B($"{step}"))), new TxnOp(Delete: new DeleteRangeRequest(B(k)))],
                        [new TxnOp(Range: new RangeRequest(B(k)))]).Encode(ref w)); // the else branch writes nothing
                    break;
                case 5:
                    // Revoke (deleting its keys in one revision) and grant again.
                    Run(CommandKind.LeaseRevoke, (ref w) => w.Var(5));
                    Run(CommandKind.LeaseGrant, (ref w) => { w.Var(5); w.Var(60); });
                    break;
                default:
                    Run(CommandKind.DeleteRange, (ref w) => new DeleteRangeRequest(B("nothing-here")).Encode(ref w)); // no revision
                    break;
            }
            Assert.Equal(Dump(source.Current), Dump(replica.Current));
        }
        Assert.True(applied.Count > 200);
        Assert.Equal(applied, applied.Distinct().Order()); // strictly increasing

        // A repeat is ignored; so is an old revision.
        Assert.False(replica.ApplyReplicated(replica.Current.Revision, [new(WatchEventType.Delete, new KeyValue(B("k/1"), [], 0, 1, 0, 0), null)]));
        Assert.Equal(Dump(source.Current), Dump(replica.Current));

        // Past-revision reads from the replica's own history equal the source's.
        for (var rev = applied[0]; rev <= source.Current.Revision; rev += 17)
        {
            var req = new RangeRequest(B("k/"), RangeRequest.PrefixEnd(B("k/")));
            var a = sourceHistory.RangeAt(req, rev);
            var b = history.RangeAt(req, rev);
            Assert.Equal((a.Revision, Dump(a.Kvs)), (b.Revision, Dump(b.Kvs)));
        }
    }
}
