using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Tinyo.Kv.Client;
using Tinyo.Kv.Protocol;

namespace Tinyo.Node.Store;

/// <summary>Typed JSON access to the cluster state in tinyokv.</summary>
public sealed class StateStore(KvClient kv)
{
    /// <summary>
    /// The underlying client, for the typed store classes beside this one only: everything else goes through their
    /// methods (StoreAccessPlacementTests in node/tests keeps it so).
    /// </summary>
    internal KvClient Kv => kv;

    /// <summary>Reads one value, null when absent.</summary>
    public async Task<T?> GetAsync<T>(string key, JsonTypeInfo<T> info, CancellationToken ct) where T : class
    {
        var kvp = await kv.GetAsync(Keys.Of(key), ct: ct).ConfigureAwait(false);
        return kvp is null ? null : JsonSerializer.Deserialize(kvp.Value, info);
    }

    /// <summary>Every value under a prefix, in key order, with the name (key without prefix).</summary>
    public async Task<List<(string Name, T Value)>> ListAsync<T>(string prefix, JsonTypeInfo<T> info, CancellationToken ct)
    {
        var p = Keys.Of(prefix);
        var resp = await kv.RangeAsync(new RangeRequest(p, RangeRequest.PrefixEnd(p)), ct).ConfigureAwait(false);
        var list = new List<(string, T)>(resp.Kvs.Count);
        foreach (var x in resp.Kvs)
            list.Add((System.Text.Encoding.UTF8.GetString(x.Key)[prefix.Length..], JsonSerializer.Deserialize(x.Value, info)!));
        return list;
    }

    /// <summary>Number of keys under a prefix.</summary>
    public async Task<long> CountAsync(string prefix, CancellationToken ct)
    {
        var p = Keys.Of(prefix);
        var resp = await kv.RangeAsync(new RangeRequest(p, RangeRequest.PrefixEnd(p), CountOnly: true), ct).ConfigureAwait(false);
        return resp.Count;
    }

    /// <summary>Whether a key exists (its value is not read into a type).</summary>
    public async Task<bool> ExistsAsync(string key, CancellationToken ct)
        => await kv.GetAsync(Keys.Of(key), ct: ct).ConfigureAwait(false) is not null;

    /// <summary>The KV's current revision (what GET /v1/status reports).</summary>
    public async Task<long> RevisionAsync(CancellationToken ct) => (await kv.StatusAsync(ct).ConfigureAwait(false)).Revision;

    /// <summary>
    /// Writes a value attached to a new KV lease of <paramref name="ttl"/> (rounded up to whole seconds), so the KV
    /// deletes it on its own once the lease expires.
    /// </summary>
    public async Task PutExpiringAsync<T>(string key, T value, JsonTypeInfo<T> info, TimeSpan ttl, CancellationToken ct)
    {
        var (lease, _) = await kv.LeaseGrantAsync((long)Math.Ceiling(ttl.TotalSeconds), ct: ct).ConfigureAwait(false);
        await PutAsync(key, value, info, ct, lease).ConfigureAwait(false);
    }

    /// <summary>Writes a value unconditionally.</summary>
    public Task PutAsync<T>(string key, T value, JsonTypeInfo<T> info, CancellationToken ct, long lease = 0)
        => kv.PutAsync(Keys.Of(key), JsonSerializer.SerializeToUtf8Bytes(value, info), lease, ct);

    /// <summary>Writes a value only if the key does not exist; false when it does.</summary>
    public async Task<bool> CreateAsync<T>(string key, T value, JsonTypeInfo<T> info, CancellationToken ct)
    {
        var k = Keys.Of(key);
        var r = await kv.TxnAsync(new TxnRequest(
            [new Compare(k, CompareTarget.Create, CompareResult.Equal, 0)],
            [new TxnOp(Put: new PutRequest(k, JsonSerializer.SerializeToUtf8Bytes(value, info)))],
            []), ct).ConfigureAwait(false);
        return r.Succeeded;
    }

    /// <summary>Deletes a key; false when it did not exist.</summary>
    public async Task<bool> DeleteAsync(string key, CancellationToken ct)
    {
        var r = await kv.DeleteAsync(new DeleteRangeRequest(Keys.Of(key)), ct).ConfigureAwait(false);
        return r.Deleted > 0;
    }
}
