using System.Net;
using Tinyo.Kv;
using Tinyo.Node.Store;
using Tinyo.Rt;
using Tinyo.Rt.Network;

namespace Tinyo.Node.Network;

/// <summary>Settings of a <see cref="ClusterOverlay"/>.</summary>
public sealed class ClusterOverlayOptions
{
    /// <summary>This node's name (its IPAM records).</summary>
    public required string Node { get; init; }

    /// <summary>This node's registered address: the VXLAN tunnels' local end.</summary>
    public required IPAddress Address { get; init; }

    /// <summary>The node's cluster networks (bridges, subnets, DNS tables).</summary>
    public required ClusterNetworks Networks { get; init; }

    /// <summary>The KV side.</summary>
    public required OverlayStore Store { get; init; }

    /// <summary>UDP port of the tunnels (IANA's 4789; <c>TINYO_VXLAN_PORT</c>).</summary>
    public int Port { get; init; } = 4789;

    /// <summary>How often the overlay is re-read without a KV change (a missed watch event heals by then).</summary>
    public TimeSpan Resync { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Log lines.</summary>
    public Action<string> Log { get; init; } = _ => { };
}

/// <summary>
/// A node's side of the cluster networks across nodes. Per cluster present on this node, a VXLAN device (id derived
/// from the cluster's name, kernel data path, no learning) that is a port of the cluster's bridge; for every other
/// ready node that holds a subnet of the cluster (IPAM gives each node its own, never overlapping): a forwarding entry
/// (the other node's device MAC → its registered address, on the device and as a static bridge entry), a permanent
/// neighbour for its gateway and an on-link route to its subnet via that gateway on the bridge. Traffic to a replica
/// on another node is therefore routed by this node out of the bridge, switched into the tunnel, and delivered by the
/// other node to its bridge (routed again to the replica). Every device's MAC is 0a:58 + its subnet's gateway address,
/// so nodes never need to exchange it. Kept current from a KV watch (subnets, liveness, node records, status) plus a
/// periodic re-read; a node that joins, leaves or is lost is added or removed within one sync. The DNS tables of the
/// clusters get the replicas on other nodes. Nothing survives the overlay: devices go on stop, and a node that was
/// killed re-makes them (fresh forwarding entries) and removes routes it no longer wants at its first sync.
/// </summary>
public sealed class ClusterOverlay : IAsyncDisposable
{
    private sealed class Device(string name, int index, int bridgeIndex, Ipv4Subnet subnet)
    {
        public string Name { get; } = name;
        public int Index { get; } = index;
        public int BridgeIndex { get; } = bridgeIndex;
        public Ipv4Subnet Subnet { get; } = subnet;
        public Dictionary<uint, OverlayPeer> Peers { get; } = [];
        public string? NamesKey { get; set; }
    }

    private readonly ClusterOverlayOptions o;
    private readonly string prefix;
    private readonly Dictionary<string, Device> devices = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource stop = new();
    private readonly SemaphoreSlim wake = new(0, int.MaxValue);
    private readonly SemaphoreSlim serial = new(1, 1);
    private Rtnetlink? host;
    private string? rulesLoaded;
    private Task? loop, watch;
    private bool firstSync = true;

    /// <summary>An overlay for the node whose network directory is <see cref="ClusterOverlayOptions.Networks"/>.</summary>
    public ClusterOverlay(ClusterOverlayOptions options)
    {
        o = options;
        var id = Path.GetFullPath(o.Networks.NamespaceDir);
        prefix = "tx" + Fnv(id).ToString("x8", System.Globalization.CultureInfo.InvariantCulture)[..4];
        Table = "tinyo_vx" + Fnv(id).ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The overlay's nft table (family inet).</summary>
    public string Table { get; }

    /// <summary>The VXLAN id of a cluster: 24 bits of an FNV-1a hash of its name (never 0).</summary>
    public static uint VniOf(string cluster)
    {
        var v = Fnv(cluster) & 0xffffff;
        return v == 0 ? 1 : v;
    }

    /// <summary>The hardware address of the device of the subnet <paramref name="subnet"/>: 0a:58 + its gateway.</summary>
    public static byte[] MacOf(Ipv4Subnet subnet)
    {
        var g = Ipv4Subnet.ToAddress(subnet.Base + 1).GetAddressBytes();
        return [0x0a, 0x58, g[0], g[1], g[2], g[3]];
    }

    /// <summary>The name of this node's VXLAN device of <paramref name="cluster"/>.</summary>
    public string DeviceOf(string cluster) => prefix + Fnv(cluster).ToString("x8", System.Globalization.CultureInfo.InvariantCulture);

    private Rtnetlink Host => host ??= Rtnetlink.OpenCurrent();

    /// <summary>Starts the watch and the sync loop.</summary>
    public void Start()
    {
        loop = Task.Run(() => LoopAsync(stop.Token));
        watch = Task.Run(() => WatchAsync(stop.Token));
    }

    /// <summary>Asks for a sync soon (a cluster came up or went on this node).</summary>
    public void Poke() => wake.Release();

    private async Task WatchAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var rev = await o.Store.RevisionAsync(ct).ConfigureAwait(false);
                wake.Release();
                await foreach (var _ in o.Store.ChangesAsync(rev + 1, ct).ConfigureAwait(false)) wake.Release();
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is KvException or IOException or InvalidOperationException)
            {
                // The periodic sync covers the gap; watch again shortly.
            }
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task LoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await wake.WaitAsync(o.Resync, ct).ConfigureAwait(false);
                // Coalesce a burst of changes (a status write per replica) into one sync.
                await Task.Delay(TimeSpan.FromMilliseconds(100), ct).ConfigureAwait(false);
                while (wake.CurrentCount > 0) await wake.WaitAsync(ct).ConfigureAwait(false);
                await SyncAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is KvException or NodeException or RtException or IOException)
            {
                o.Log($"overlay: {e.Message} (retried)");
            }
        }
    }

    /// <summary>One pass: devices, entries and routes as the KV says, the port's rules, the names of other nodes.</summary>
    public async Task SyncAsync(CancellationToken ct)
    {
        var snap = await o.Store.SnapshotAsync(ct).ConfigureAwait(false);
        var view = OverlayView.Compute(o.Node, snap.Subnets, snap.Alive, snap.Nodes, snap.Status);
        if (view.Skipped > 0) o.Log($"overlay: {view.Skipped} IPAM record(s) skipped (do not parse)");
        await serial.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var present = o.Networks.Present();
            var wanted = present.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
            if (firstSync) RemoveStrays(wanted);
            foreach (var (name, d) in devices.Where(kv => !wanted.Contains(kv.Key)).ToList())
            {
                Host.TryDeleteLink(d.Name);
                devices.Remove(name);
                o.Log($"overlay: net {name} left this node; vxlan {d.Name} removed");
            }
            foreach (var c in present)
            {
                try
                {
                    SyncCluster(c, view);
                }
                catch (RtException e)
                {
                    o.Log($"overlay: net {c.Name}: {e.Message}");
                }
            }
            await ApplyRulesAsync(view, firstSync, ct).ConfigureAwait(false);
            firstSync = false;
            // Traffic to another node's subnet is routed by this node (in and out of the bridge).
            if (devices.Count > 0) o.Networks.EnsureForwarding();
        }
        finally
        {
            serial.Release();
        }
    }

    private void SyncCluster(PresentCluster c, OverlayView view)
    {
        devices.TryGetValue(c.Name, out var d);
        var link = d is null ? null : Host.FindLink(d.Name);
        if (d is null || link is null || link.Master != c.BridgeIndex || d.Subnet != c.Subnet || d.BridgeIndex != c.BridgeIndex)
        {
            // New, or the bridge or subnet changed under it (the cluster left and came back): made afresh, so no
            // forwarding entry of an earlier life stays.
            var name = DeviceOf(c.Name);
            Host.TryDeleteLink(name);
            var vni = VniOf(c.Name);
            var clash = devices.FirstOrDefault(kv => kv.Key != c.Name && VniOf(kv.Key) == vni);
            if (clash.Value is not null)
                throw new RtException($"its VXLAN id {vni} is also net {clash.Key}'s; it is not connected to other nodes (rename one of them)");
            var index = Host.CreateVxlan(name, vni, o.Address, (ushort)o.Port, MacOf(c.Subnet), c.BridgeIndex, TunnelMtu());
            d = new Device(name, index, c.BridgeIndex, c.Subnet);
            devices[c.Name] = d;
            o.Log($"overlay: net {c.Name}: vxlan {name} id {vni} on bridge {c.Bridge}, {o.Address}:{o.Port}");
            RemoveStaleRoutes(c, view);
        }
        var want = new Dictionary<uint, OverlayPeer>();
        foreach (var p in view.PeersOf(c.Name))
            if (!p.Subnet.Equals(c.Subnet) && !(p.Subnet.Contains(c.Subnet.Base) || c.Subnet.Contains(p.Subnet.Base))) want[p.Subnet.Base] = p;
        foreach (var (key, had) in d.Peers.ToList())
            if (!want.TryGetValue(key, out var now) || now != had)
            {
                Host.RemoveOverlayRoute(Ipv4Subnet.ToAddress(had.Subnet.Base), had.Subnet.PrefixLength, had.Gateway, c.BridgeIndex);
                Host.RemoveRemote(d.Index, MacOf(had.Subnet), had.Address);
                d.Peers.Remove(key);
                o.Log($"overlay: net {c.Name}: {had.Subnet} on {had.Node} ({had.Address}) removed");
            }
        foreach (var (key, p) in want)
        {
            if (d.Peers.ContainsKey(key)) continue;
            Host.SetRemote(d.Index, MacOf(p.Subnet), p.Address);
            Host.SetOverlayRoute(Ipv4Subnet.ToAddress(p.Subnet.Base), p.Subnet.PrefixLength, p.Gateway, MacOf(p.Subnet), c.BridgeIndex);
            d.Peers[key] = p;
            o.Log($"overlay: net {c.Name}: {p.Subnet} on {p.Node} via {p.Address}");
        }
        var names = view.RemoteNamesOf(c.Name);
        var namesKey = string.Join(";", names.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => kv.Key + "=" + string.Join(",", kv.Value.Select(r => $"{r.Index}:{r.Address}:{r.Healthy}"))));
        if (namesKey != d.NamesKey)
        {
            c.Names.SetRemote(names);
            d.NamesKey = namesKey;
        }
    }

    /// <summary>
    /// The MTU inside the tunnel: the MTU of the link that holds this node's address less VXLAN's 50 bytes (outer
    /// IPv4, UDP, VXLAN and Ethernet headers), so encapsulated frames are never fragmented; 1450 when not found. The
    /// bridge takes the smallest MTU of its ports, so replicas learn it by path MTU discovery for other nodes only.
    /// </summary>
    private int TunnelMtu()
    {
        var at = Host.ListAddresses().FirstOrDefault(a => a.Address.Equals(o.Address));
        var link = at is null ? null : Host.ListLinks().FirstOrDefault(l => l.Index == at.Index);
        return link is { Mtu: > 576 } ? link.Mtu - 50 : 1450;
    }

    /// <summary>Overlay routes on the cluster's bridge that no current peer explains (left by a killed node).</summary>
    private void RemoveStaleRoutes(PresentCluster c, OverlayView view)
    {
        var keep = view.PeersOf(c.Name).Select(p => p.Subnet.Base).ToHashSet();
        foreach (var r in Host.ListRoutes())
        {
            if (r.Oif != c.BridgeIndex || r.Protocol != Rtnetlink.OverlayRouteProtocol) continue;
            if (keep.Contains(Ipv4Subnet.ToUInt(r.Destination))) continue;
            Host.RemoveOverlayRoute(r.Destination, r.PrefixLength, r.Gateway, c.BridgeIndex);
            o.Log($"overlay: net {c.Name}: stale route to {r.Destination}/{r.PrefixLength} removed");
        }
    }

    /// <summary>VXLAN devices of this node that no present cluster explains (after kill -9).</summary>
    private void RemoveStrays(HashSet<string> wanted)
    {
        var names = wanted.Select(DeviceOf).ToHashSet(StringComparer.Ordinal);
        foreach (var l in Host.ListLinks())
            if (l.Kind == "vxlan" && l.Name.StartsWith(prefix, StringComparison.Ordinal) && !names.Contains(l.Name))
            {
                Host.TryDeleteLink(l.Name);
                o.Log($"overlay: removed vxlan {l.Name}, left without a cluster");
            }
    }

    private async Task ApplyRulesAsync(OverlayView view, bool first, CancellationToken ct)
    {
        var bridges = o.Networks.Present().Where(c => devices.ContainsKey(c.Name)).Select(c => c.Bridge).Order(StringComparer.Ordinal).ToList();
        var rules = devices.Count == 0 ? IsolationRules.RenderTeardown(Table) : OverlayRules.Render(Table, bridges, view.NodeAddresses, o.Port);
        if (rules == rulesLoaded || (rulesLoaded is null && devices.Count == 0 && !first)) return;
        try
        {
            await IsolationTable.ApplyAsync(rules, ct: ct).ConfigureAwait(false);
            rulesLoaded = devices.Count == 0 ? null : rules;
        }
        catch (NodeException e)
        {
            o.Log($"overlay: the VXLAN port is NOT guarded: {e.Message}");
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        foreach (var t in (Task?[])[loop, watch])
            if (t is not null)
                try
                {
                    await t.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
        await serial.WaitAsync().ConfigureAwait(false);
        try
        {
            foreach (var d in devices.Values) Host.TryDeleteLink(d.Name);
            foreach (var c in o.Networks.Present())
                foreach (var r in Host.ListRoutes().Where(r => r.Oif == c.BridgeIndex && r.Protocol == Rtnetlink.OverlayRouteProtocol))
                    Host.RemoveOverlayRoute(r.Destination, r.PrefixLength, r.Gateway, c.BridgeIndex);
            RemoveStrays([]);
            if (devices.Count > 0) o.Log($"overlay: removed {devices.Count} vxlan device(s)");
            devices.Clear();
            try
            {
                await IsolationTable.RemoveAsync(Table).ConfigureAwait(false);
            }
            catch (NodeException e)
            {
                o.Log($"overlay: {e.Message}");
            }
            host?.Dispose();
            host = null;
        }
        catch (RtException e)
        {
            o.Log($"overlay: {e.Message}");
        }
        finally
        {
            serial.Release();
        }
        stop.Dispose();
    }

    private static uint Fnv(string s)
    {
        uint h = 2166136261;
        foreach (var ch in s)
        {
            h ^= (byte)ch;
            h *= 16777619;
            if (ch > 0x7f)
            {
                h ^= (byte)(ch >> 8);
                h *= 16777619;
            }
        }
        return h;
    }
}
