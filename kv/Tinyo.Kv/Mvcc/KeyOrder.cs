namespace Tinyo.Kv.Mvcc;

/// <summary>Orders key-values by key, bytewise, as etcd does.</summary>
internal sealed class KeyOrder : IComparer<KeyValue>
{
    public static readonly KeyOrder Instance = new();

    public int Compare(KeyValue? x, KeyValue? y) => x!.Key.AsSpan().SequenceCompareTo(y!.Key);
}
