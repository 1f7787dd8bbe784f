using Tinyo.Api;

namespace Tinyo.Node.Store;

/// <summary>
/// The bind allow-list (<see cref="BindPolicy"/>: host paths a non-admin may bind), one key in the KV:
/// <c>/tinyo/policy/binds</c>. Missing: nothing is allowed to non-admins.
/// </summary>
public sealed class BindPolicyStore(StateStore store)
{
    /// <summary>The key.</summary>
    public const string Key = "/tinyo/policy/binds";

    /// <summary>The allowed paths (empty when none was set).</summary>
    public async Task<IReadOnlyList<string>> GetAsync(CancellationToken ct)
        => (await store.GetAsync(Key, ApiJson.Default.BindPolicy, ct).ConfigureAwait(false))?.Paths ?? [];

    /// <summary>Replaces the list.</summary>
    public Task SetAsync(BindPolicy policy, CancellationToken ct) => store.PutAsync(Key, policy, ApiJson.Default.BindPolicy, ct);
}
