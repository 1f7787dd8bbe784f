using Tinyo.Kv;
using Tinyo.Node.Store;

namespace Tinyo.Node.Network;

/// <summary>
/// Keeps a node's cluster networks in step with their records in the KV (<c>/tinyo/nets/NAME</c>): a watch of the
/// prefix, and on every change <see cref="ClusterNetworks.RefreshAsync"/> — so <c>tio net egress NAME on|off</c>,
/// stored by whichever node took the request, is applied by every node that has the cluster. After a KV outage or
/// a compacted watch it refreshes once and watches again (0.5 s doubling to 10 s between tries), so a switch made
/// meanwhile is not lost.
/// </summary>
public sealed class NetSettingsFeed(StateStore store, ClusterNetworks networks, Action<string> log)
{
    private readonly NetSettingsStore nets = new(store);

    /// <summary>Runs until <paramref name="ct"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var revision = await nets.RevisionAsync(ct).ConfigureAwait(false);
                await networks.RefreshAsync(ct).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(500);
                await foreach (var _ in nets.ChangesAsync(revision, ct).ConfigureAwait(false))
                    await networks.RefreshAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is KvException or NodeException or IOException or System.Net.Sockets.SocketException or TimeoutException or OperationCanceledException)
            {
                log($"net: following /tinyo/nets/: {e.Message}; again in {delay.TotalSeconds:0.#} s");
            }
            try
            {
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }
}
