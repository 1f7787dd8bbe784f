using System.Runtime.CompilerServices;
using Tinyo.Kv.Protocol;

namespace Tinyo.Node.Store;

/// <summary>The clusters' records (<c>/tinyo/nets/NAME</c>) as a feed: where to start watching, and each change after.</summary>
public sealed class NetSettingsStore(StateStore store)
{
    private static readonly byte[] Prefix = Keys.Of(Keys.Nets);

    /// <summary>The KV's revision now (the watch starts after it).</summary>
    public async Task<long> RevisionAsync(CancellationToken ct)
        => (await store.Kv.RangeAsync(new RangeRequest(Prefix, RangeRequest.PrefixEnd(Prefix), CountOnly: true), ct).ConfigureAwait(false)).Revision;

    /// <summary>One item per watch frame with events under the prefix after <paramref name="afterRevision"/>; ends with the watch.</summary>
    public async IAsyncEnumerable<int> ChangesAsync(long afterRevision, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var frame in store.Kv.WatchAsync(Prefix, RangeRequest.PrefixEnd(Prefix), afterRevision + 1, ct: ct).ConfigureAwait(false))
            if (frame.Events.Count > 0) yield return frame.Events.Count;
    }
}
