using System.Text;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Learner;

/// <summary>
/// Where learners announce themselves: each running learner keeps the key <c>/tinyokv/learners/NAME</c> (value:
/// its client address) attached to a lease it keeps alive, so the key disappears a TTL after the learner is
/// gone (at once on a clean stop, which revokes the lease). Members list these keys in <c>member list</c>;
/// nothing else reads them. The prefix is reserved: it is replicated like any key (visible to a range over
/// everything), and a learner whose key was deleted puts it back.
/// </summary>
public static class LearnerRegistry
{
    /// <summary>The reserved prefix.</summary>
    public static ReadOnlySpan<byte> Prefix => "/tinyokv/learners/"u8;

    /// <summary>Seconds a learner's key outlives its last keep-alive.</summary>
    public const int LeaseTtlSeconds = 10;

    /// <summary>A learner's key.</summary>
    public static byte[] Key(string name) => [.. Prefix, .. Encoding.UTF8.GetBytes(name)];

    /// <summary>The learners registered in a view, as member-list entries.</summary>
    public static List<MemberInfo> List(StoreView view)
    {
        var prefix = Prefix.ToArray();
        var found = view.Range(new RangeRequest(prefix, RangeRequest.PrefixEnd(prefix), Serializable: true));
        var list = new List<MemberInfo>(found.Kvs.Count);
        foreach (var kv in found.Kvs)
        {
            list.Add(new(Encoding.UTF8.GetString(kv.Key.AsSpan(prefix.Length)), "", Encoding.UTF8.GetString(kv.Value),
                IsLeader: false, Status: "available", Standby: false, Learner: true));
        }
        return list;
    }

    /// <summary>Writes the learners' section of a member list (<see cref="LearnerList"/>).</summary>
    public static void Encode(ref WireWriter w, List<MemberInfo> learners) => LearnerList.Encode(ref w, learners);

    /// <summary>Reads the learners' section of a member list (<see cref="LearnerList"/>).</summary>
    public static List<MemberInfo> Decode(ref WireReader r) => LearnerList.Decode(ref r);
}
