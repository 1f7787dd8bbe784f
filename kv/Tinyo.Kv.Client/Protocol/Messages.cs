using Tinyo.Kv.Mvcc;

namespace Tinyo.Kv.Protocol;

/// <summary>Sets a key's value. Flags as etcd's: return the previous key-value, keep the value, keep the lease.</summary>
public sealed record PutRequest(byte[] Key, byte[] Value, long Lease = 0, bool PrevKv = false, bool IgnoreValue = false, bool IgnoreLease = false)
{
    /// <summary>Encodes the request.</summary>
    public void Encode(ref WireWriter w)
    {
        w.Bytes(Key);
        w.Bytes(Value);
        w.Var(Lease);
        w.Byte((byte)((PrevKv ? 1 : 0) | (IgnoreValue ? 2 : 0) | (IgnoreLease ? 4 : 0)));
    }

    /// <summary>Decodes the request.</summary>
    public static PutRequest Decode(ref WireReader r)
    {
        var key = r.Bytes();
        var value = r.Bytes();
        var lease = r.Var();
        var f = r.Byte();
        if (f > 7) throw new ProtocolException("bad put flags");
        return new(key, value, lease, (f & 1) != 0, (f & 2) != 0, (f & 4) != 0);
    }
}

/// <summary>The result of a put.</summary>
public sealed record PutResponse(long Revision, KeyValue? PrevKv)
{
    /// <summary>Encodes the response.</summary>
    public void Encode(ref WireWriter w)
    {
        w.Var(Revision);
        w.Bool(PrevKv is not null);
        PrevKv?.Encode(ref w);
    }

    /// <summary>Decodes the response.</summary>
    public static PutResponse Decode(ref WireReader r)
    {
        var rev = r.Var();
        return new(rev, r.Bool() ? KeyValue.Decode(ref r) : null);
    }
}

/// <summary>
/// Reads one key (<see cref="RangeEnd"/> null), the keys in [Key, RangeEnd), or every key from Key on
/// (RangeEnd = "\0"). A limit bounds the answer; the response says whether more keys follow. A
/// <see cref="Revision"/> above 0 reads the keys as they were at that past revision (etcd's get --rev).
/// </summary>
public sealed record RangeRequest(byte[] Key, byte[]? RangeEnd = null, long Limit = 0, bool KeysOnly = false, bool CountOnly = false,
    bool Serializable = false, long Revision = 0)
{
    /// <summary>Encodes the request.</summary>
    public void Encode(ref WireWriter w)
    {
        w.Bytes(Key);
        w.Bool(RangeEnd is not null);
        if (RangeEnd is not null) w.Bytes(RangeEnd);
        w.Var(Limit);
        w.Byte((byte)((KeysOnly ? 1 : 0) | (CountOnly ? 2 : 0) | (Serializable ? 4 : 0) | (Revision > 0 ? 8 : 0)));
        if (Revision > 0) w.Var(Revision);
    }

    /// <summary>Decodes the request.</summary>
    public static RangeRequest Decode(ref WireReader r)
    {
        var key = r.Bytes();
        var end = r.Bool() ? r.Bytes() : null;
        var limit = r.Var();
        var f = r.Byte();
        if (f > 15) throw new ProtocolException("bad range flags");
        var revision = (f & 8) != 0 ? r.Var() : 0;
        if ((f & 8) != 0 && revision <= 0) throw new ProtocolException("bad range revision");
        return new(key, end, limit, (f & 1) != 0, (f & 2) != 0, (f & 4) != 0, revision);
    }

    /// <summary>The range end that selects every key starting with <paramref name="prefix"/>.</summary>
    public static byte[] PrefixEnd(byte[] prefix)
    {
        var end = (byte[])prefix.Clone();
        for (var i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xFF)
            {
                end[i]++;
                return end[..(i + 1)];
            }
        }
        return [0]; // all keys: the prefix is empty or all 0xFF
    }
}

/// <summary>The keys a range found.</summary>
public sealed record RangeResponse(long Revision, long Count, bool More, IReadOnlyList<KeyValue> Kvs)
{
    /// <summary>Encodes the response.</summary>
    public void Encode(ref WireWriter w, bool keysOnly = false)
    {
        w.Var(Revision);
        w.Var(Count);
        w.Bool(More);
        w.Var(Kvs.Count);
        foreach (var kv in Kvs) kv.Encode(ref w, keysOnly);
    }

    /// <summary>Decodes the response.</summary>
    public static RangeResponse Decode(ref WireReader r)
    {
        var rev = r.Var();
        var count = r.Var();
        var more = r.Bool();
        var n = r.Int();
        var kvs = new List<KeyValue>(Math.Min(n, 1024));
        for (var i = 0; i < n; i++) kvs.Add(KeyValue.Decode(ref r));
        return new(rev, count, more, kvs);
    }
}

/// <summary>Deletes one key or a range, with <see cref="RangeRequest"/>'s range rules.</summary>
public sealed record DeleteRangeRequest(byte[] Key, byte[]? RangeEnd = null, bool PrevKv = false)
{
    /// <summary>Encodes the request.</summary>
    public void Encode(ref WireWriter w)
    {
        w.Bytes(Key);
        w.Bool(RangeEnd is not null);
        if (RangeEnd is not null) w.Bytes(RangeEnd);
        w.Bool(PrevKv);
    }

    /// <summary>Decodes the request.</summary>
    public static DeleteRangeRequest Decode(ref WireReader r)
    {
        var key = r.Bytes();
        var end = r.Bool() ? r.Bytes() : null;
        return new(key, end, r.Bool());
    }
}

/// <summary>What a delete removed.</summary>
public sealed record DeleteRangeResponse(long Revision, long Deleted, IReadOnlyList<KeyValue> PrevKvs)
{
    /// <summary>Encodes the response.</summary>
    public void Encode(ref WireWriter w)
    {
        w.Var(Revision);
        w.Var(Deleted);
        w.Var(PrevKvs.Count);
        foreach (var kv in PrevKvs) kv.Encode(ref w);
    }

    /// <summary>Decodes the response.</summary>
    public static DeleteRangeResponse Decode(ref WireReader r)
    {
        var rev = r.Var();
        var deleted = r.Var();
        var n = r.Int();
        var kvs = new List<KeyValue>(Math.Min(n, 1024));
        for (var i = 0; i < n; i++) kvs.Add(KeyValue.Decode(ref r));
        return new(rev, deleted, kvs);
    }
}

/// <summary>What a transaction compare looks at.</summary>
public enum CompareTarget : byte
{
    /// <summary>The value (bytes).</summary>
    Value = 0,
    /// <summary>The version (0 when the key is absent).</summary>
    Version = 1,
    /// <summary>The create revision (0 when absent).</summary>
    Create = 2,
    /// <summary>The mod revision (0 when absent).</summary>
    Mod = 3,
    /// <summary>The lease id (0 when none).</summary>
    Lease = 4,
}

/// <summary>How a compare relates the key's field to the operand.</summary>
public enum CompareResult : byte
{
    /// <summary>Equal.</summary>
    Equal = 0,
    /// <summary>Not equal.</summary>
    NotEqual = 1,
    /// <summary>Field less than operand.</summary>
    Less = 2,
    /// <summary>Field greater than operand.</summary>
    Greater = 3,
}

/// <summary>One guard of a transaction.</summary>
public sealed record Compare(byte[] Key, CompareTarget Target, CompareResult Result, long Number = 0, byte[]? Value = null)
{
    /// <summary>Encodes the compare.</summary>
    public void Encode(ref WireWriter w)
    {
        w.Bytes(Key);
        w.Byte((byte)Target);
        w.Byte((byte)Result);
        if (Target == CompareTarget.Value) w.Bytes(Value ?? []);
        else w.Var(Number);
    }

    /// <summary>Decodes the compare.</summary>
    public static Compare Decode(ref WireReader r)
    {
        var key = r.Bytes();
        var t = r.Byte();
        var res = r.Byte();
        if (t > 4 || res > 3) throw new ProtocolException("bad compare");
        var target = (CompareTarget)t;
        return target == CompareTarget.Value
            ? new(key, target, (CompareResult)res, 0, r.Bytes())
            : new(key, target, (CompareResult)res, r.Var());
    }
}

/// <summary>One operation of a transaction branch: exactly one of the three requests is set.</summary>
public sealed record TxnOp(RangeRequest? Range = null, PutRequest? Put = null, DeleteRangeRequest? Delete = null)
{
    /// <summary>Encodes the operation.</summary>
    public void Encode(ref WireWriter w)
    {
        if (Range is not null) { w.Byte(1); Range.Encode(ref w); }
        else if (Put is not null) { w.Byte(2); Put.Encode(ref w); }
        else if (Delete is not null) { w.Byte(3); Delete.Encode(ref w); }
        else throw new KvException("empty transaction operation");
    }

    /// <summary>Decodes the operation.</summary>
    public static TxnOp Decode(ref WireReader r) => r.Byte() switch
    {
        1 => new(Range: RangeRequest.Decode(ref r) is { Revision: 0 } range ? range
            : throw new ProtocolException("a transaction reads the current revision: a range in it cannot ask for a past one")),
        2 => new(Put: PutRequest.Decode(ref r)),
        3 => new(Delete: DeleteRangeRequest.Decode(ref r)),
        _ => throw new ProtocolException("bad transaction operation"),
    };
}

/// <summary>If every compare holds, run <see cref="Success"/>, else <see cref="Failure"/>; atomically, one revision.</summary>
public sealed record TxnRequest(IReadOnlyList<Compare> Compares, IReadOnlyList<TxnOp> Success, IReadOnlyList<TxnOp> Failure)
{
    /// <summary>Encodes the request.</summary>
    public void Encode(ref WireWriter w)
    {
        w.Var(Compares.Count);
        foreach (var c in Compares) c.Encode(ref w);
        w.Var(Success.Count);
        foreach (var o in Success) o.Encode(ref w);
        w.Var(Failure.Count);
        foreach (var o in Failure) o.Encode(ref w);
    }

    /// <summary>Decodes the request.</summary>
    public static TxnRequest Decode(ref WireReader r)
    {
        var compares = new List<Compare>();
        for (int i = 0, n = r.Int(); i < n; i++) compares.Add(Compare.Decode(ref r));
        var success = new List<TxnOp>();
        for (int i = 0, n = r.Int(); i < n; i++) success.Add(TxnOp.Decode(ref r));
        var failure = new List<TxnOp>();
        for (int i = 0, n = r.Int(); i < n; i++) failure.Add(TxnOp.Decode(ref r));
        return new(compares, success, failure);
    }

    /// <summary>True when no branch writes: the transaction can be served as a read.</summary>
    public bool IsReadOnly => Success.All(o => o.Range is not null) && Failure.All(o => o.Range is not null);
}

/// <summary>One result of a transaction branch, matching its <see cref="TxnOp"/>.</summary>
public sealed record TxnOpResponse(RangeResponse? Range = null, PutResponse? Put = null, DeleteRangeResponse? Delete = null);

/// <summary>The outcome of a transaction.</summary>
public sealed record TxnResponse(long Revision, bool Succeeded, IReadOnlyList<TxnOpResponse> Responses)
{
    /// <summary>Encodes the response.</summary>
    public void Encode(ref WireWriter w)
    {
        w.Var(Revision);
        w.Bool(Succeeded);
        w.Var(Responses.Count);
        foreach (var o in Responses)
        {
            if (o.Range is not null) { w.Byte(1); o.Range.Encode(ref w); }
            else if (o.Put is not null) { w.Byte(2); o.Put.Encode(ref w); }
            else { w.Byte(3); o.Delete!.Encode(ref w); }
        }
    }

    /// <summary>Decodes the response.</summary>
    public static TxnResponse Decode(ref WireReader r)
    {
        var rev = r.Var();
        var ok = r.Bool();
        var list = new List<TxnOpResponse>();
        for (int i = 0, n = r.Int(); i < n; i++)
        {
            list.Add(r.Byte() switch
            {
                1 => new(Range: RangeResponse.Decode(ref r)),
                2 => new(Put: PutResponse.Decode(ref r)),
                3 => new(Delete: DeleteRangeResponse.Decode(ref r)),
                _ => throw new ProtocolException("bad transaction response"),
            });
        }
        return new(rev, ok, list);
    }
}
