namespace Tinyo.Kv.Protocol;

/// <summary>Why a request failed. Carried in error responses next to a one-line message.</summary>
public enum ErrorCode : byte
{
    /// <summary>The request is malformed (bad frame, bad field, unknown operation).</summary>
    BadRequest = 1,
    /// <summary>The connection has not presented the cluster token.</summary>
    Unauthenticated = 2,
    /// <summary>This member is not the leader; the message names the leader's client address when known.</summary>
    NotLeader = 3,
    /// <summary>The store's optional quota is exhausted.</summary>
    NoSpace = 4,
    /// <summary>The revision asked for was compacted away.</summary>
    Compacted = 5,
    /// <summary>The request exceeds the configured maximum request size.</summary>
    TooLarge = 6,
    /// <summary>No leader or quorum right now; retry later.</summary>
    Unavailable = 7,
    /// <summary>A lease the request names does not exist.</summary>
    LeaseNotFound = 8,
    /// <summary>A lease with that id already exists.</summary>
    LeaseExists = 9,
    /// <summary>The client's request sequence number was already answered and forgotten (a stale retry).</summary>
    StaleRequest = 10,
    /// <summary>The revision asked for is in the future.</summary>
    FutureRevision = 11,
    /// <summary>A membership change failed or was refused.</summary>
    MembershipFailed = 12,
    /// <summary>An unexpected server failure.</summary>
    Internal = 13,
}

/// <summary>An error response from a tinyokv server, with its code.</summary>
public sealed class KvServerException(ErrorCode code, string message) : KvException(message)
{
    /// <summary>Why the request failed.</summary>
    public ErrorCode Code { get; } = code;
}
