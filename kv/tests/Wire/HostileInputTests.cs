using System.Buffers;
using System.Text;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Tests.Wire;

/// <summary>Mutated and random bytes: decoders fail only with ProtocolException, the state machine never throws.</summary>
[Trait("Category", "Security")]
public class HostileInputTests
{
    private static byte[] Encode(BodyEncoder e)
    {
        var buf = new ArrayBufferWriter<byte>();
        var w = new WireWriter(buf);
        e(ref w);
        return buf.WrittenSpan.ToArray();
    }

    private static readonly byte[][] Seeds =
    [
        Encode((ref w) => new PutRequest(Encoding.UTF8.GetBytes("key"), Encoding.UTF8.GetBytes("value"), 7, true).Encode(ref w)),
        Encode((ref w) => new RangeRequest(Encoding.UTF8.GetBytes("a"), [0], 10, true).Encode(ref w)),
        Encode((ref w) => new DeleteRangeRequest(Encoding.UTF8.GetBytes("a"), Encoding.UTF8.GetBytes("b"), true).Encode(ref w)),
        Encode((ref w) => new TxnRequest(
            [new Compare(Encoding.UTF8.GetBytes("k"), CompareTarget.Value, CompareResult.Equal, Value: Encoding.UTF8.GetBytes("v"))],
            [new TxnOp(Put: new PutRequest(Encoding.UTF8.GetBytes("k"), Encoding.UTF8.GetBytes("w")))],
            [new TxnOp(Delete: new DeleteRangeRequest(Encoding.UTF8.GetBytes("k")))]).Encode(ref w)),
    ];

    private static void DecodeAll(byte[] body)
    {
        foreach (var decode in new Action<byte[]>[]
        {
            b => { var r = new WireReader(b); PutRequest.Decode(ref r); r.End(); },
            b => { var r = new WireReader(b); RangeRequest.Decode(ref r); r.End(); },
            b => { var r = new WireReader(b); DeleteRangeRequest.Decode(ref r); r.End(); },
            b => { var r = new WireReader(b); TxnRequest.Decode(ref r); r.End(); },
            b => { var r = new WireReader(b); WatchRequest.Decode(ref r); r.End(); },
            b => { var r = new WireReader(b); TxnResponse.Decode(ref r); r.End(); },
            b => { var r = new WireReader(b); WatchFrame.Decode(ref r); r.End(); },
        })
        {
            try
            {
                decode(body);
            }
            catch (ProtocolException)
            {
            }
        }
    }

    [Fact]
    public void MutatedMessagesFailOnlyWithProtocolErrors()
    {
        var rnd = new Random(1234);
        for (var round = 0; round < 20_000; round++)
        {
            var seed = Seeds[rnd.Next(Seeds.Length)];
            var body = (byte[])seed.Clone();
            for (var m = rnd.Next(1, 4); m > 0; m--)
            {
                switch (rnd.Next(3))
                {
                    case 0: body[rnd.Next(body.Length)] = (byte)rnd.Next(256); break;
                    case 1: body = body[..rnd.Next(body.Length)]; break;
                    default: body = [.. body, (byte)rnd.Next(256)]; break;
                }
                if (body.Length == 0) break;
            }
            DecodeAll(body);
        }
    }

    [Fact]
    public void RandomLogEntriesNeverThrowFromTheStateMachine()
    {
        var rnd = new Random(99);
        var store = new KeyValueStore();
        for (var i = 1; i <= 20_000; i++)
        {
            byte[] entry;
            if (rnd.Next(2) == 0)
            {
                var seed = Seeds[rnd.Next(Seeds.Length)];
                var body = (byte[])seed.Clone();
                body[rnd.Next(body.Length)] = (byte)rnd.Next(256);
                entry = Command.Encode((CommandKind)rnd.Next(1, 8), (ulong)rnd.Next(3), (ulong)rnd.Next(5), 0, body);
            }
            else
            {
                entry = new byte[rnd.Next(64)];
                rnd.NextBytes(entry);
            }
            var reply = store.Apply(entry, i);
            Assert.NotEmpty(reply);
            // Internal means an exception other than a clean refusal escaped the command code: a bug.
            Assert.True(reply[0] != (byte)ErrorCode.Internal, new WireReader(reply.AsSpan(1)).String());
        }
        Assert.Equal(20_000, store.Current.AppliedIndex);
    }
}
