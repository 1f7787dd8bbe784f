using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Api.Statefile;
using Tinyo.Kv.Mvcc;
using Tinyo.Kv.Protocol;

namespace Tinyo.Node.Store;

/// <summary>A change to the desired state: an app put (<see cref="Spec"/> set) or deleted (null).</summary>
/// <param name="Name">The app.</param>
/// <param name="Spec">Its new spec, or null when it was deleted.</param>
public readonly record struct AppChange(string Name, AppSpec? Spec);

/// <summary>
/// Typed access to the desired state, <c>/tinyo/apps/NAME</c> (<see cref="AppRecord"/>): a full read with its
/// revision, a watch from a revision, and apply's all-or-nothing write. Records that do not decode, or whose spec
/// names another app, are logged and skipped, so one bad key cannot stop the node.
/// </summary>
public sealed class DesiredApps(StateStore store, Action<string> log)
{
    private static readonly byte[] Prefix = Keys.Of(Keys.Apps);

    /// <summary>Every app, and the revision the read saw.</summary>
    public async Task<(Dictionary<string, AppSpec> Apps, long Revision)> ReadAsync(CancellationToken ct)
    {
        var resp = await store.Kv.RangeAsync(new RangeRequest(Prefix, RangeRequest.PrefixEnd(Prefix)), ct).ConfigureAwait(false);
        var apps = new Dictionary<string, AppSpec>(StringComparer.Ordinal);
        foreach (var kv in resp.Kvs)
            if (Decode(kv.Key, kv.Value) is { } d) apps[d.Name] = d.Spec!;
        return (apps, resp.Revision);
    }

    /// <summary>Every change after <paramref name="fromRevision"/> - 1; ends when the watch does (compaction).</summary>
    public async IAsyncEnumerable<AppChange> WatchAsync(long fromRevision, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var frame in store.Kv.WatchAsync(Prefix, RangeRequest.PrefixEnd(Prefix), fromRevision, ct: ct).ConfigureAwait(false))
        {
            foreach (var ev in frame.Events)
            {
                if (ev.Type == WatchEventType.Put)
                {
                    if (Decode(ev.Kv.Key, ev.Kv.Value) is { } d) yield return d;
                }
                else yield return new AppChange(NameOf(ev.Kv.Key), null);
            }
        }
    }

    /// <summary>
    /// Stores apps' desired state, each under its spec's name, in one transaction: all or nothing (nothing is sent
    /// when <paramref name="records"/> is empty).
    /// </summary>
    public async Task PutAsync(IReadOnlyCollection<AppRecord> records, CancellationToken ct)
    {
        if (records.Count == 0) return;
        var ops = records.Select(r => new TxnOp(Put: new PutRequest(Keys.Of(Keys.Apps, r.Spec.Name), JsonSerializer.SerializeToUtf8Bytes(r, ApiJson.Default.AppRecord)))).ToList();
        await store.Kv.TxnAsync(new TxnRequest([], ops, []), ct).ConfigureAwait(false);
    }

    /// <summary>How often <see cref="UpdateAsync"/> re-reads an app that changed under it before giving up.</summary>
    public const int UpdateAttempts = 16;

    /// <summary>
    /// Changes one app's record by compare-and-swap: reads it with its mod revision, lets <paramref name="change"/>
    /// make the new record from it, and writes that only if the key still has that revision; otherwise (an apply or
    /// another update wrote it meanwhile) reads again and calls <paramref name="change"/> on the newer record. So a
    /// concurrent write is never lost: the update lands on top of it. Null when the app does not exist (or was
    /// removed meanwhile). <paramref name="change"/> may throw to refuse (nothing is written).
    /// </summary>
    public async Task<(AppRecord Before, AppRecord After)?> UpdateAsync(string name, Func<AppRecord, AppRecord> change, CancellationToken ct)
    {
        var key = Keys.Of(Keys.Apps, name);
        for (int attempt = 0; attempt < UpdateAttempts; attempt++)
        {
            var kv = await store.Kv.GetAsync(key, ct: ct).ConfigureAwait(false);
            if (kv is null) return null;
            var before = JsonSerializer.Deserialize(kv.Value, ApiJson.Default.AppRecord)
                ?? throw new NodeException($"app {name}: its record is unreadable");
            var after = change(before);
            var r = await store.Kv.TxnAsync(new TxnRequest(
                [new Compare(key, CompareTarget.Mod, CompareResult.Equal, kv.ModRevision)],
                [new TxnOp(Put: new PutRequest(key, JsonSerializer.SerializeToUtf8Bytes(after, ApiJson.Default.AppRecord)))],
                []), ct).ConfigureAwait(false);
            if (r.Succeeded) return (before, after);
        }
        throw new NodeException($"app {name}: changed by others {UpdateAttempts} times while being updated; try again");
    }

    private static string NameOf(byte[] key) => Encoding.UTF8.GetString(key)[Keys.Apps.Length..];

    private AppChange? Decode(byte[] key, byte[] value)
    {
        var name = NameOf(key);
        try
        {
            var rec = JsonSerializer.Deserialize(value, ApiJson.Default.AppRecord);
            if (rec?.Spec is { } s && s.Name == name) return new AppChange(name, s);
        }
        catch (JsonException e)
        {
            log($"reconcile: app {name}: unreadable record ({e.Message}); ignored");
            return null;
        }
        log($"reconcile: app {name}: record without a matching spec; ignored");
        return null;
    }
}
