using System.Text;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Kv.Protocol;

namespace Tinyo.Node.Store;

/// <summary>
/// Typed access to the node's one-time initialisation: <c>/tinyo/init</c> with the first net and the first user,
/// written together or not at all, so two racing inits can never both succeed nor leave a half-made cluster.
/// </summary>
public sealed class ClusterInit(StateStore store)
{
    /// <summary>The net init made, or null when the node was never initialised.</summary>
    public async Task<string?> NetAsync(CancellationToken ct)
        => await store.Kv.GetAsync(Keys.Of(Keys.Init), ct: ct).ConfigureAwait(false) is { } kv ? Encoding.UTF8.GetString(kv.Value) : null;

    /// <summary>
    /// Writes the init marker, the net and the user in one transaction guarded by the marker's absence; true when
    /// this call initialised the node, false when it already was (then nothing is written).
    /// </summary>
    public async Task<bool> InitializeAsync(NetInfo net, StoredUser user, CancellationToken ct)
    {
        var init = Keys.Of(Keys.Init);
        var txn = await store.Kv.TxnAsync(new TxnRequest(
            [new Compare(init, CompareTarget.Create, CompareResult.Equal, 0)],
            [
                new TxnOp(Put: new PutRequest(init, Encoding.UTF8.GetBytes(net.Name))),
                new TxnOp(Put: new PutRequest(Keys.Of(Keys.Nets, net.Name), JsonSerializer.SerializeToUtf8Bytes(net, ApiJson.Default.NetInfo))),
                new TxnOp(Put: new PutRequest(Keys.Of(Keys.Users, user.Name), JsonSerializer.SerializeToUtf8Bytes(user, StoreJson.Default.StoredUser))),
            ], []), ct).ConfigureAwait(false);
        return txn.Succeeded;
    }
}
