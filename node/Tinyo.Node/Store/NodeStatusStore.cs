using System.Text;
using Tinyo.Api;
using Tinyo.Kv.Protocol;

namespace Tinyo.Node.Store;

/// <summary>Typed access to one node's observed state, <c>/tinyo/status/NODE/APP</c> (<see cref="AppStatus"/>).</summary>
public sealed class NodeStatusStore(StateStore store, string node)
{
    private string Prefix => Keys.Status + node + "/";

    /// <summary>Writes an app's status.</summary>
    public Task PutAsync(AppStatus status, CancellationToken ct) => store.PutAsync(Prefix + status.App, status, ApiJson.Default.AppStatus, ct);

    /// <summary>Deletes an app's status.</summary>
    public Task DeleteAsync(string app, CancellationToken ct) => store.DeleteAsync(Prefix + app, ct);

    /// <summary>The apps this node has a status for.</summary>
    public async Task<List<string>> AppsAsync(CancellationToken ct)
    {
        var p = Keys.Of(Prefix);
        var resp = await store.Kv.RangeAsync(new RangeRequest(p, RangeRequest.PrefixEnd(p), KeysOnly: true), ct).ConfigureAwait(false);
        return [.. resp.Kvs.Select(kv => Encoding.UTF8.GetString(kv.Key)[Prefix.Length..])];
    }
}
