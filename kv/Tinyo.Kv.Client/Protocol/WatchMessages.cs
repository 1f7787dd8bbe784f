using Tinyo.Kv.Mvcc;

namespace Tinyo.Kv.Protocol;

/// <summary>Starts a watch of a key or range from a revision (0: from now).</summary>
public sealed record WatchRequest(byte[] Key, byte[]? RangeEnd, long StartRevision, bool PrevKv)
{
    /// <summary>Encodes the request.</summary>
    public void Encode(ref WireWriter w)
    {
        w.Bytes(Key);
        w.Bool(RangeEnd is not null);
        if (RangeEnd is not null) w.Bytes(RangeEnd);
        w.Var(StartRevision);
        w.Bool(PrevKv);
    }

    /// <summary>Decodes the request.</summary>
    public static WatchRequest Decode(ref WireReader r)
    {
        var key = r.Bytes();
        var end = r.Bool() ? r.Bytes() : null;
        return new(key, end, r.Var(), r.Bool());
    }
}

/// <summary>
/// One frame of a watch stream: <see cref="WatchFrameKind.Created"/> (the revision the watch starts at),
/// <see cref="WatchFrameKind.Events"/> (one revision's events) or <see cref="WatchFrameKind.Canceled"/>.
/// </summary>
public sealed record WatchFrame(WatchFrameKind Kind, long Revision, IReadOnlyList<WatchEvent> Events)
{
    /// <summary>Encodes the frame body.</summary>
    public void Encode(ref WireWriter w)
    {
        w.Byte((byte)Kind);
        w.Var(Revision);
        w.Var(Events.Count);
        foreach (var e in Events)
        {
            w.Byte((byte)e.Type);
            e.Kv.Encode(ref w);
            w.Bool(e.PrevKv is not null);
            e.PrevKv?.Encode(ref w);
        }
    }

    /// <summary>Decodes the frame body.</summary>
    public static WatchFrame Decode(ref WireReader r)
    {
        var kind = r.Byte();
        if (kind > 2) throw new ProtocolException("bad watch frame");
        var rev = r.Var();
        var n = r.Int();
        var list = new List<WatchEvent>(Math.Min(n, 1024));
        for (var i = 0; i < n; i++)
        {
            var type = r.Byte();
            if (type > 1) throw new ProtocolException("bad watch event");
            var kv = KeyValue.Decode(ref r);
            list.Add(new((WatchEventType)type, kv, r.Bool() ? KeyValue.Decode(ref r) : null));
        }
        return new((WatchFrameKind)kind, rev, list);
    }
}

/// <summary>What a watch frame carries.</summary>
public enum WatchFrameKind : byte
{
    /// <summary>The watch is registered; Revision is the first revision it reports.</summary>
    Created = 0,
    /// <summary>Events of one revision.</summary>
    Events = 1,
    /// <summary>The watch ended at the client's request.</summary>
    Canceled = 2,
}
