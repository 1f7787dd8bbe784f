namespace Tinyo.Kv.Protocol;

/// <summary>
/// The learners' section of a member list on the wire: the server writes the learners it knows
/// (<c>LearnerRegistry</c>), the client reads them into <see cref="MemberInfo"/> records.
/// </summary>
public static class LearnerList
{
    /// <summary>Writes the learners' section of a member list: count, then name and client address of each.</summary>
    public static void Encode(ref WireWriter w, List<MemberInfo> learners)
    {
        w.Var(learners.Count);
        foreach (var l in learners)
        {
            w.String(l.Name);
            w.String(l.ClientAddress);
        }
    }

    /// <summary>Reads the learners' section of a member list.</summary>
    public static List<MemberInfo> Decode(ref WireReader r)
    {
        var n = r.Int();
        var list = new List<MemberInfo>(Math.Min(n, 1024));
        for (var i = 0; i < n; i++) list.Add(new(r.String(), "", r.String(), false, "available", false, Learner: true));
        return list;
    }
}
