using Tinyo.Kv;
using Tinyo.Kv.Client;

namespace Tinyo.Node.Network;

/// <summary>
/// The node's own TCP ports that no replica may reach (the isolation table's "node API and KV" rule): the API's TCP
/// port, the KV client ports the node talks to, and every KV member's client and Raft peer port as the KV's member
/// list gives them — the peer port carries the replicated log and membership changes, and the node is not told it
/// (<c>tio ++ --kv-peer-port</c> goes to tinyokv), so it asks. A member list that cannot be had within two seconds
/// leaves the last one known (logged), never an empty set.
/// </summary>
public sealed class ProtectedPorts(KvClient kv, Func<IEnumerable<int>> known, Action<string> log)
{
    private int[] members = [];

    /// <summary>The ports now: the known ones and the members'.</summary>
    public async Task<IReadOnlyCollection<int>> ReadAsync(CancellationToken ct)
    {
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(TimeSpan.FromSeconds(2));
            var list = await kv.MemberListAsync(cts.Token).ConfigureAwait(false);
            var ports = new List<int>(list.Count * 2);
            foreach (var m in list)
                foreach (var a in (ReadOnlySpan<string>)[m.PeerAddress, m.ClientAddress])
                    if (TryPort(a) is { } p) ports.Add(p);
            members = [.. ports];
        }
        catch (Exception e) when (e is KvException or IOException or System.Net.Sockets.SocketException or TimeoutException
                                      || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            log($"net: the KV's member list ({e.Message}); protecting the ports known so far");
        }
        return [.. known().Concat(members).Where(p => p is > 0 and <= 65535).Distinct().Order()];
    }

    /// <summary>The port of <c>ip:port</c> or <c>[v6]:port</c>, or null.</summary>
    internal static int? TryPort(string address)
    {
        int colon = address.LastIndexOf(':');
        return colon >= 0 && int.TryParse(address.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var p)
            && p is > 0 and <= 65535 ? p : null;
    }
}
