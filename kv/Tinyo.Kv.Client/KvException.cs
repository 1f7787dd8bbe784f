namespace Tinyo.Kv;

/// <summary>An error of the key-value store that is reported to the caller as one clear message.</summary>
public class KvException(string message, Exception? inner = null) : Exception(message, inner);
