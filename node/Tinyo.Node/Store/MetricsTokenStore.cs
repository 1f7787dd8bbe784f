using System.Security.Cryptography;
using System.Text;
using Tinyo.Node.Security;

namespace Tinyo.Node.Store;

/// <summary>
/// The cluster's read-only metrics token, <c>/tinyo/metrics/token</c>: a <see cref="StoredSecret"/> sealed with the
/// node key (as secrets are), so every node of the cluster accepts the same token and a copy of the KV does not give
/// it away. Made on first use (the first <c>tio metrics token</c>, or the first scrape), replaced by a rotation. It
/// reads <c>/metrics</c> and nothing else.
/// </summary>
public sealed class MetricsTokenStore(StateStore store, SecretBox box)
{
    /// <summary>The key.</summary>
    public const string Key = "/tinyo/metrics/token";

    private const string SealName = "metrics.token"; // the AAD: a sealed value cannot be moved to another key

    /// <summary>The token (made now if there is none), and when it was made.</summary>
    public async Task<(string Token, DateTimeOffset Created)> GetOrCreateAsync(CancellationToken ct)
    {
        for (int attempt = 0; attempt < 3; attempt++)
        {
            if (await store.GetAsync(Key, StoreJson.Default.StoredSecret, ct).ConfigureAwait(false) is { } s)
                return (Encoding.UTF8.GetString(box.Open(SealName, s)), s.Created);
            var token = Tokens.New();
            var sealedToken = box.Seal(SealName, Encoding.UTF8.GetBytes(token));
            if (await store.CreateAsync(Key, sealedToken, StoreJson.Default.StoredSecret, ct).ConfigureAwait(false))
                return (token, sealedToken.Created);
            // Another node made one first: read that.
        }
        throw new NodeException("the metrics token could not be made (the KV key kept changing)");
    }

    /// <summary>Replaces the token: the old one stops working on every node (within their cache time).</summary>
    public async Task<(string Token, DateTimeOffset Created)> RotateAsync(CancellationToken ct)
    {
        var token = Tokens.New();
        var sealedToken = box.Seal(SealName, Encoding.UTF8.GetBytes(token));
        await store.PutAsync(Key, sealedToken, StoreJson.Default.StoredSecret, ct).ConfigureAwait(false);
        return (token, sealedToken.Created);
    }

    /// <summary>Constant-time comparison of a presented token with the real one.</summary>
    public static bool Matches(string presented, string token)
        => CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(token));
}
