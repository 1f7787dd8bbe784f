using System.Text.Json;
using Tinyo.Api;
using Tinyo.Kv;
using Tinyo.Node.Store;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// Writes the reconciler's observed state to <c>/tinyo/status/NODE/APP</c> on its own task: the latest state per
/// app wins, an unchanged one is not written again, and while tinyokv is away the writes wait (and retry every
/// second) without holding up the reconciler.
/// </summary>
internal sealed class StatusWriter(NodeStatusStore store, Action<string> log) : IStatusSink, IAsyncDisposable
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, AppStatus?> pending = new(StringComparer.Ordinal); // null: delete
    private readonly Dictionary<string, string> written = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim signal = new(0);
    private HashSet<string>? keep;
    private Task? task;
    private CancellationToken ct;

    public void Start(CancellationToken token)
    {
        ct = token;
        task = Task.Run(RunAsync);
    }

    public void Set(string app, AppStatus s)
    {
        lock (gate) pending[app] = s;
        signal.Release();
    }

    public void Remove(string app)
    {
        lock (gate) pending[app] = null;
        signal.Release();
    }

    /// <summary>Deletes the status of every app of this node not in <paramref name="apps"/> (removed while we were down).</summary>
    public void Prune(HashSet<string> apps)
    {
        lock (gate) keep = apps;
        signal.Release();
    }

    private async Task RunAsync()
    {
        while (true)
        {
            try
            {
                await signal.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await FlushAsync(CancellationToken.None, TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                return;
            }
            if (!await FlushAsync(ct, null).ConfigureAwait(false))
            {
                try
                {
                    await Task.Delay(1000, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    continue;
                }
                signal.Release();
            }
        }
    }

    /// <summary>Writes what is pending; false when the KV failed (the rest stays pending).</summary>
    private async Task<bool> FlushAsync(CancellationToken token, TimeSpan? limit)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
        if (limit is { } l) cts.CancelAfter(l);
        List<KeyValuePair<string, AppStatus?>> batch;
        HashSet<string>? prune;
        lock (gate)
        {
            batch = [.. pending];
            pending.Clear();
            prune = keep;
            keep = null;
        }
        try
        {
            if (prune is not null)
            {
                foreach (var app in await store.AppsAsync(cts.Token).ConfigureAwait(false))
                    if (!prune.Contains(app)) await store.DeleteAsync(app, cts.Token).ConfigureAwait(false);
                prune = null;
            }
            for (int i = 0; i < batch.Count; i++)
            {
                var (app, s) = (batch[i].Key, batch[i].Value);
                if (s is null)
                {
                    await store.DeleteAsync(app, cts.Token).ConfigureAwait(false);
                    written.Remove(app);
                }
                else
                {
                    // Updated changes every time: compare without it.
                    var json = JsonSerializer.Serialize(s with { Updated = default }, ApiJson.Default.AppStatus);
                    if (written.TryGetValue(app, out var w) && w == json) continue;
                    await store.PutAsync(s, cts.Token).ConfigureAwait(false);
                    written[app] = json;
                }
                batch[i] = default;
            }
            return true;
        }
        catch (Exception e) when (e is KvException or OperationCanceledException or IOException)
        {
            lock (gate)
            {
                foreach (var (app, s) in batch)
                    if (app is not null) pending.TryAdd(app, s);
                if (prune is not null) keep ??= prune;
            }
            if (e is KvException) log($"reconcile: status not written yet ({e.Message}); will retry");
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (task is not null) await task.ConfigureAwait(false);
    }
}
