using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Mvcc;

/// <summary>
/// One key's current value and its MVCC bookkeeping, as etcd v3 reports it. Immutable: the store replaces
/// the object on every change, so a reader holding a view never sees a half-updated key.
/// </summary>
/// <param name="Key">The key.</param>
/// <param name="Value">The value.</param>
/// <param name="CreateRevision">Revision of the put that created the key (since its last delete).</param>
/// <param name="ModRevision">Revision of the last put to the key.</param>
/// <param name="Version">Number of puts since the key was created; a delete resets it.</param>
/// <param name="Lease">Lease the key is attached to, 0 for none.</param>
public sealed record KeyValue(byte[] Key, byte[] Value, long CreateRevision, long ModRevision, long Version, long Lease)
{
    /// <summary>Encodes the key-value in the wire format.</summary>
    public void Encode(ref WireWriter w, bool keysOnly = false)
    {
        w.Bytes(Key);
        w.Bytes(keysOnly ? [] : Value);
        w.Var(CreateRevision);
        w.Var(ModRevision);
        w.Var(Version);
        w.Var(Lease);
    }

    /// <summary>Decodes a key-value from the wire format.</summary>
    public static KeyValue Decode(ref WireReader r)
        => new(r.Bytes(), r.Bytes(), r.Var(), r.Var(), r.Var(), r.Var());

    /// <summary>A probe used to look a key up in the sorted set.</summary>
    internal static KeyValue Probe(byte[] key) => new(key, [], 0, 0, 0, 0);
}
