namespace Tinyo.Kv.Mvcc;

/// <summary>What happened to a key.</summary>
public enum WatchEventType : byte
{
    /// <summary>Created or updated.</summary>
    Put = 0,
    /// <summary>Deleted (the event's key-value has the key and the delete's revision as mod revision).</summary>
    Delete = 1,
}

/// <summary>One change, as watchers receive it.</summary>
public sealed record WatchEvent(WatchEventType Type, KeyValue Kv, KeyValue? PrevKv);
