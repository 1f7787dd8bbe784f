using System.Net;
using DotNext.Buffers;
using DotNext.IO;
using DotNext.Net;
using DotNext.Net.Cluster.Consensus.Raft.Membership;

namespace Tinyo.Kv.Raft;

/// <summary>The Raft group's membership, persisted in the data directory so a restarted member knows its peers.</summary>
internal sealed class MemberStorage(string file) : PersistentClusterConfigurationStorage<EndPoint>(file)
{
    protected override void Encode(EndPoint address, ref BufferWriterSlim<byte> writer) => writer.WriteEndPoint(address);

    protected override EndPoint Decode(ref SequenceReader reader) => reader.ReadEndPoint();
}
