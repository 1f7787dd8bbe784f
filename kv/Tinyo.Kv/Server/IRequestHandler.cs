using Tinyo.Kv.Protocol;

namespace Tinyo.Kv.Server;

/// <summary>What answers a connection's requests (watches aside): a member's or a learner's handler.</summary>
internal interface IRequestHandler
{
    /// <summary>Answers one request with a reply body (status byte, then the result or a message).</summary>
    Task<byte[]> HandleAsync(Op op, byte[] body, ulong clientId, CancellationToken token);
}
