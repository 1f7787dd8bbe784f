using System.Net;
using Tinyo.Api.Statefile;
using Tinyo.Kv;
using Tinyo.Node.Reconcile;
using Tinyo.Rt;
using Tinyo.Rt.Network;

namespace Tinyo.Node.Network;

/// <summary>
/// A node's cluster networks, wired: a cluster has a bridge, a subnet (from <see cref="Ipam"/>), a DNS responder on
/// the bridge's address and its place in the node's isolation table while at least one of its replicas lives on
/// this node; each replica has an address leased in the KV (the same again after a restart: leases are keyed by
/// replica) and a persistent network namespace (<c>ROOT/net/ns/APP-N</c>) with a veth on the bridge, made before its
/// container and joined by path. Names: bridges <c>tb</c> and veths <c>tv</c> + 12 hex digits of a hash of this
/// node's directory and the cluster or replica (stable across restarts, distinct between nodes sharing a host);
/// the nft table <c>tinyo_</c> + 8 of them. Called from the reconciler's loop; a gate serialises the calls that
/// removal runs in parallel.
/// </summary>
public sealed class ClusterNetworks : IReplicaNetworks
{
    private sealed class Cluster(string name, ClusterSubnet subnet, string bridge, int bridgeIndex, bool egress)
    {
        public string Name { get; } = name;
        public ClusterSubnet Subnet { get; } = subnet;
        public string Bridge { get; } = bridge;
        public int BridgeIndex { get; } = bridgeIndex;

        /// <summary>Masquerade on; switched by <see cref="RefreshAsync"/> when the net's record changes.</summary>
        public bool Egress { get; set; } = egress;
        public DnsNameTable Names { get; } = new();
        public DnsServer? Dns { get; set; }

        /// <summary>Namespaces made ahead for this bridge (null: pool size 0, or the pool could not be made).</summary>
        public ReplicaNetworkPool? Pool { get; set; }
        public HashSet<string> Replicas { get; } = new(StringComparer.Ordinal);
    }

    private sealed record Lease(string Cluster, IPAddress Address, string NetnsPath, string Veth);

    private const string ForwardSysctl = NetworkLeftovers.ForwardSysctl;
    private readonly ClusterNetworkOptions o;
    private readonly string id;
    private readonly Dictionary<string, Cluster> clusters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Lease> replicas = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> appCluster = new(StringComparer.Ordinal);
    private readonly Lock gate = new();
    private readonly SemaphoreSlim serial = new(1, 1);
    private Rtnetlink? host;
    private string? rulesLoaded;
    private int poolClaimed, poolFellBack; // of pools already disposed

    /// <summary>The networks of the node whose network directory is <see cref="ClusterNetworkOptions.Root"/>.</summary>
    public ClusterNetworks(ClusterNetworkOptions options)
    {
        o = options;
        id = Path.GetFullPath(o.Root);
        Table = NetworkLeftovers.TableOf(o.Root);
    }

    /// <summary>This node's nft table (family inet).</summary>
    public string Table { get; }

    /// <summary>Where replica namespaces are mounted.</summary>
    public string NamespaceDir => Path.Combine(o.Root, "ns");

    /// <summary>The bridge of <paramref name="cluster"/> on this node.</summary>
    public string BridgeOf(string cluster) => "tb" + VethName.For(id + "\0" + cluster)[2..];

    /// <summary>The host end of <paramref name="replica"/>'s veth.</summary>
    public string VethOf(string replica) => NetworkLeftovers.VethOf(o.Root, replica);

    private string NetnsOf(string replica) => Path.Combine(NamespaceDir, replica);

    private Rtnetlink Host => host ??= Rtnetlink.OpenCurrent();

    /// <inheritdoc/>
    public IPAddress? AddressOf(string replica)
    {
        lock (gate) return replicas.TryGetValue(replica, out var l) ? l.Address : null;
    }

    /// <summary>The clusters that have a bridge on this node now (what the overlay connects to other nodes).</summary>
    public IReadOnlyList<PresentCluster> Present()
    {
        lock (gate) return [.. clusters.Values.Select(c => new PresentCluster(c.Name, c.Bridge, c.BridgeIndex, c.Subnet.Subnet, c.Names))];
    }

    /// <summary>The replica's cluster, or null.</summary>
    public string? ClusterOf(string replica)
    {
        lock (gate) return replicas.TryGetValue(replica, out var l) ? l.Cluster : null;
    }

    /// <inheritdoc/>
    public async Task<ReplicaAttachment?> AttachAsync(AppSpec spec, string replica, CancellationToken ct)
    {
        if (spec.Network is not null) return null; // none or host
        await serial.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var name = spec.Net ?? await o.DefaultNet(ct).ConfigureAwait(false)
                ?? throw new NodeException("the node has no net yet, so the app has no cluster (tio ++ -net NAME makes the first)");
            if (ClusterOf(replica) is { } was && was != name) await DetachLockedAsync(replica, ct).ConfigureAwait(false);
            var c = await EnsureClusterAsync(name, ct).ConfigureAwait(false);
            ReplicaLease lease;
            try
            {
                lease = await o.Ipam.LeaseAsync(name, replica, ct).ConfigureAwait(false);
            }
            catch (NodeException)
            {
                await DropIfUnusedAsync(c, ct).ConfigureAwait(false);
                throw;
            }
            var path = NetnsOf(replica);
            var veth = VethOf(replica);
            try
            {
                Directory.CreateDirectory(NamespaceDir);
                ReplicaNetwork.Remove(Host, path, veth); // what a crash between two steps may have left
                var t = PrepareNamespace(c, new ReplicaNetworkSpec(path, veth, c.BridgeIndex, lease.Address, c.Subnet.Subnet.PrefixLength, c.Subnet.Gateway));
                o.Log(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"net {name}: {replica} on {lease.Address}, namespace set up in {t.Total.TotalMilliseconds:0.000} ms ({(t.Pooled ? "pooled" : "cold")})"));
            }
            catch (Exception e) when (e is RtException or IOException or UnauthorizedAccessException)
            {
                await ReleaseAsync(name, replica, ct).ConfigureAwait(false);
                await DropIfUnusedAsync(c, ct).ConfigureAwait(false);
                throw new NodeException($"network of {replica} in net {name}: {e.Message}", e);
            }
            lock (gate)
            {
                replicas[replica] = new Lease(name, lease.Address, path, veth);
                c.Replicas.Add(replica);
            }
            return new ReplicaAttachment(name, path, lease.Address, c.Subnet.Gateway);
        }
        finally
        {
            serial.Release();
        }
    }

    /// <summary>The replica's namespace from its cluster's pool (the warm path: a bind mount, a rename, an address
    /// and a route) or, without a pool or when it is empty, made on the spot; both leave the same state.</summary>
    private ReplicaSetupTimes PrepareNamespace(Cluster c, ReplicaNetworkSpec spec)
        => c.Pool is { } pool ? pool.Prepare(Host, spec) : ReplicaNetwork.Prepare(Host, spec);

    /// <summary>Set-ups served by the clusters' pools and made cold since the node started (status, tests).</summary>
    public (int Pooled, int Cold) PoolCounts
    {
        get
        {
            lock (gate) return (poolClaimed + clusters.Values.Sum(c => c.Pool?.Claimed ?? 0), poolFellBack + clusters.Values.Sum(c => c.Pool?.FellBack ?? 0));
        }
    }

    /// <inheritdoc/>
    public async Task DetachAsync(string replica, CancellationToken ct)
    {
        await serial.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await DetachLockedAsync(replica, ct).ConfigureAwait(false);
        }
        finally
        {
            serial.Release();
        }
    }

    private async Task DetachLockedAsync(string replica, CancellationToken ct)
    {
        Lease? l;
        Cluster? c = null;
        lock (gate)
        {
            if (replicas.Remove(replica, out l) && clusters.TryGetValue(l.Cluster, out c)) c.Replicas.Remove(replica);
        }
        if (l is null) return;
        ReplicaNetwork.Remove(Host, l.NetnsPath, l.Veth);
        await ReleaseAsync(l.Cluster, replica, ct).ConfigureAwait(false);
        if (c is not null) await DropIfUnusedAsync(c, ct).ConfigureAwait(false);
    }

    /// <summary>Releases a lease; a KV that does not answer leaves it to the next recovery (logged).</summary>
    private async Task ReleaseAsync(string cluster, string replica, CancellationToken ct)
    {
        try
        {
            await o.Ipam.ReleaseAsync(cluster, replica, ct).ConfigureAwait(false);
        }
        catch (KvException e)
        {
            o.Log($"net {cluster}: the address of {replica} stays leased until the KV answers ({e.Message})");
        }
    }

    /// <summary>The cluster's bridge, DNS responder and rules, made when its first replica comes to this node.</summary>
    private async Task<Cluster> EnsureClusterAsync(string name, CancellationToken ct)
    {
        lock (gate)
            if (clusters.TryGetValue(name, out var known)) return known;
        var info = await o.Net(name, ct).ConfigureAwait(false)
            ?? throw new NodeException($"net {name} does not exist (tio net + {name})");
        var subnet = await o.Ipam.SubnetAsync(name, ct).ConfigureAwait(false);
        var c = Up(subnet, info.Egress != false);
        await ApplyRulesAsync(ct).ConfigureAwait(false);
        return c;
    }

    /// <summary>Bridge (idempotent) and DNS responder of a cluster; registers it.</summary>
    private Cluster Up(ClusterSubnet subnet, bool egress)
    {
        var bridge = BridgeOf(subnet.Cluster);
        int index;
        try
        {
            index = ClusterBridge.Ensure(Host, bridge, subnet.Gateway, subnet.Subnet.PrefixLength);
        }
        catch (RtException e)
        {
            throw new NodeException($"net {subnet.Cluster}: bridge {bridge} ({subnet.Subnet}): {e.Message}", e);
        }
        var c = new Cluster(subnet.Cluster, subnet, bridge, index, egress);
        if (o.PoolSize > 0)
        {
            try
            {
                c.Pool = new ReplicaNetworkPool(o.PoolSize, bridgeIndex: index); // filled by its own thread from now on
            }
            catch (RtException e)
            {
                o.Log($"net {subnet.Cluster}: no namespace pool, every replica's network is made on the spot: {e.Message}");
            }
        }
        var gateways = clusters.Values.Select(x => x.Subnet.Gateway).Append(subnet.Gateway).ToList();
        var dns = new DnsServer(c.Names, new DnsServerOptions { Upstreams = DnsUpstreams.FromResolvConf(o.ResolvConf, gateways) });
        try
        {
            dns.Start(new IPEndPoint(subnet.Gateway, o.DnsPort));
            c.Dns = dns;
        }
        catch (NodeException e)
        {
            o.Log($"net {subnet.Cluster}: no DNS responder: {e.Message}");
            _ = dns.DisposeAsync().AsTask();
        }
        lock (gate) clusters[subnet.Cluster] = c;
        SaveBridges();
        o.Log($"net {subnet.Cluster}: bridge {bridge} {subnet.Gateway}/{subnet.Subnet.PrefixLength}{(egress ? "" : ", no egress")}");
        return c;
    }

    /// <summary>
    /// Writes the names of this node's bridges to <see cref="NetworkLeftovers.BridgesFile"/>, so what a killed node
    /// leaves can be removed without the KV (<see cref="NetworkLeftovers.RemoveAsync"/>, run by <c>tio down</c> after
    /// a kill). Written when a bridge comes or goes (per cluster, not per replica); a failure only loses that.
    /// </summary>
    private void SaveBridges()
    {
        List<string> names;
        lock (gate) names = [.. clusters.Values.Select(c => c.Bridge).Order(StringComparer.Ordinal)];
        try
        {
            NetworkLeftovers.SaveBridges(o.Root, names);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            o.Log($"net: cannot record the bridges in {NetworkLeftovers.BridgesFile(o.Root)}: {e.Message}");
        }
    }

    /// <summary>A cluster with no replica left on this node: responder, bridge, subnet and rules go.</summary>
    private async Task DropIfUnusedAsync(Cluster c, CancellationToken ct)
    {
        lock (gate)
        {
            if (c.Replicas.Count > 0 || !clusters.TryGetValue(c.Name, out var cur) || cur != c) return;
            clusters.Remove(c.Name);
        }
        if (c.Dns is { } d) await d.DisposeAsync().ConfigureAwait(false);
        DisposePool(c);
        ClusterBridge.Remove(Host, c.Bridge);
        SaveBridges();
        try
        {
            await o.Ipam.ReleaseSubnetAsync(c.Name, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KvException or NodeException)
        {
            o.Log($"net {c.Name}: subnet {c.Subnet.Subnet} kept for now: {e.Message}");
        }
        await ApplyRulesAsync(ct).ConfigureAwait(false);
        o.Log($"net {c.Name}: no replica left on this node; bridge {c.Bridge} removed");
    }

    /// <summary>Deletes the pooled namespaces of a cluster that goes (their veths are ports of its bridge).</summary>
    private void DisposePool(Cluster c)
    {
        if (c.Pool is not { } p) return;
        c.Pool = null;
        lock (gate)
        {
            poolClaimed += p.Claimed;
            poolFellBack += p.FellBack;
        }
        p.Dispose();
    }

    /// <summary>
    /// Loads the isolation table for the clusters present (removes it when there are none), and turns IP forwarding
    /// on while a cluster has egress (its previous value saved in <c>ROOT/net/ip_forward.saved</c>, restored by
    /// <see cref="StopAsync"/>). nft missing or refusing: logged loudly, the clusters then are not isolated.
    /// </summary>
    private async Task ApplyRulesAsync(CancellationToken ct)
    {
        List<IsolatedCluster> list;
        lock (gate)
            list = [.. clusters.Values.OrderBy(c => c.Name, StringComparer.Ordinal)
                .Select(c => new IsolatedCluster(c.Name.Replace('.', '-'), c.Bridge, c.Subnet.Subnet, c.Subnet.Gateway, c.Egress))];
        var rules = list.Count == 0 ? IsolationRules.RenderTeardown(Table) : IsolationRules.Render(list, await o.NodePorts(ct).ConfigureAwait(false), Table);
        if (rules != rulesLoaded)
        {
            try
            {
                await IsolationTable.ApplyAsync(rules, ct: ct).ConfigureAwait(false);
                rulesLoaded = rules;
            }
            catch (NodeException e)
            {
                o.Log($"clusters are NOT isolated: {e.Message}");
            }
        }
        if (list.Exists(c => c.Egress)) EnsureForwarding();
    }

    private string SavedForwarding => NetworkLeftovers.SavedForwarding(o.Root);

    /// <summary>Turns IP forwarding on (saved, restored when the node stops): cluster egress, and the overlay.</summary>
    internal void EnsureForwarding()
    {
        try
        {
            var now = File.ReadAllText(ForwardSysctl).Trim();
            if (now == "1") return;
            Directory.CreateDirectory(o.Root);
            if (!File.Exists(SavedForwarding)) File.WriteAllText(SavedForwarding, now + "\n");
            File.WriteAllText(ForwardSysctl, "1\n");
            o.Log("net.ipv4.ip_forward=1 (cluster egress; restored when the node stops)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            o.Log($"cannot turn IP forwarding on, clusters have no egress: {e.Message}");
        }
    }

    private void RestoreForwarding() => NetworkLeftovers.RestoreForwarding(o.Root, o.Log);

    /// <inheritdoc/>
    public async Task RecoverAsync(IReadOnlyCollection<string> existingReplicas, CancellationToken ct)
    {
        await serial.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var keep = new HashSet<string>(existingReplicas, StringComparer.Ordinal);
            Directory.CreateDirectory(NamespaceDir);
            var mounted = NetnsMounts.Read();
            foreach (var s in await o.Ipam.ClustersAsync(ct).ConfigureAwait(false))
            {
                var leases = await o.Ipam.LeasesAsync(s.Cluster, ct).ConfigureAwait(false);
                foreach (var l in leases.Where(l => !keep.Contains(l.Replica)))
                {
                    lock (gate)
                        if (replicas.Remove(l.Replica) && clusters.TryGetValue(s.Cluster, out var had)) had.Replicas.Remove(l.Replica);
                    ReplicaNetwork.Remove(Host, NetnsOf(l.Replica), VethOf(l.Replica));
                    await ReleaseAsync(s.Cluster, l.Replica, ct).ConfigureAwait(false);
                    o.Log($"net {s.Cluster}: released {l.Address} of {l.Replica}, which has no container");
                }
                var live = leases.Where(l => keep.Contains(l.Replica)).ToList();
                Cluster? c;
                lock (gate) clusters.TryGetValue(s.Cluster, out c);
                if (live.Count == 0)
                {
                    if (c is not null) await DropIfUnusedAsync(c, ct).ConfigureAwait(false);
                    else
                    {
                        ClusterBridge.Remove(Host, BridgeOf(s.Cluster));
                        try
                        {
                            await o.Ipam.ReleaseSubnetAsync(s.Cluster, ct).ConfigureAwait(false);
                        }
                        catch (NodeException e)
                        {
                            o.Log($"net {s.Cluster}: {e.Message}");
                        }
                    }
                    continue;
                }
                if (c is null)
                {
                    var info = await o.Net(s.Cluster, ct).ConfigureAwait(false);
                    c = Up(s, info?.Egress != false);
                }
                foreach (var l in live)
                {
                    var path = NetnsOf(l.Replica);
                    var veth = VethOf(l.Replica);
                    if (!mounted.Contains(path) || Host.FindLink(veth) is null)
                    {
                        ReplicaNetwork.Remove(Host, path, veth);
                        try
                        {
                            PrepareNamespace(c, new ReplicaNetworkSpec(path, veth, c.BridgeIndex, l.Address, s.Subnet.PrefixLength, s.Gateway));
                            o.Log($"net {s.Cluster}: namespace of {l.Replica} made again ({l.Address})");
                        }
                        catch (RtException e)
                        {
                            o.Log($"net {s.Cluster}: cannot make the namespace of {l.Replica} again: {e.Message}");
                            continue;
                        }
                    }
                    lock (gate)
                    {
                        replicas[l.Replica] = new Lease(s.Cluster, l.Address, path, veth);
                        c.Replicas.Add(l.Replica);
                    }
                }
            }
            RemoveStrays();
            await ApplyRulesAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            serial.Release();
        }
    }

    /// <summary>
    /// Reads the records of the clusters present on this node again and applies what changed — egress switched by
    /// <c>tio net egress NAME on|off</c> (masquerade added or removed, forwarding turned on) and the node's protected
    /// ports (a KV member joined) — by reloading the isolation table when its text changed. Called by
    /// <see cref="NetSettingsFeed"/> on every change under <c>/tinyo/nets/</c>.
    /// </summary>
    public async Task RefreshAsync(CancellationToken ct)
    {
        await serial.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            List<Cluster> cs;
            lock (gate) cs = [.. clusters.Values];
            foreach (var c in cs)
            {
                var info = await o.Net(c.Name, ct).ConfigureAwait(false);
                if (info is null) continue; // deleted: only possible once no app uses it, and then its last replica takes it along
                bool egress = info.Egress != false;
                if (egress == c.Egress) continue;
                c.Egress = egress;
                o.Log($"net {c.Name}: egress {(egress ? "on" : "off")}");
            }
            if (cs.Count > 0) await ApplyRulesAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            serial.Release();
        }
    }

    /// <summary>Namespace files no lease explains, and veths on our bridges no replica owns (a create cut short).</summary>
    private void RemoveStrays()
    {
        HashSet<string> veths;
        HashSet<int> bridges;
        lock (gate)
        {
            veths = [.. replicas.Values.Select(l => l.Veth)];
            bridges = [.. clusters.Values.Select(c => c.BridgeIndex)];
        }
        foreach (var f in Directory.GetFiles(NamespaceDir))
        {
            var name = Path.GetFileName(f);
            bool known;
            lock (gate) known = replicas.ContainsKey(name);
            if (known) continue;
            ReplicaNetwork.Remove(Host, f, VethOf(name));
            o.Log($"net: removed namespace {name}, left without a replica");
        }
        foreach (var link in Host.ListLinks())
            if (link.Name.StartsWith(VethName.Prefix, StringComparison.Ordinal) && bridges.Contains(link.Master) && !veths.Contains(link.Name))
            {
                Host.TryDeleteLink(link.Name);
                o.Log($"net: removed veth {link.Name}, left without a replica");
            }
    }

    /// <inheritdoc/>
    public void Publish(string app, IReadOnlyList<ReplicaName> list)
    {
        lock (gate)
        {
            string? cluster = null;
            var names = new List<DnsReplica>(list.Count);
            foreach (var r in list)
                if (replicas.TryGetValue(r.Replica, out var l))
                {
                    cluster ??= l.Cluster;
                    if (l.Cluster == cluster) names.Add(new DnsReplica(r.Index, l.Address, r.Healthy));
                }
            if (appCluster.TryGetValue(app, out var before) && before != cluster && clusters.TryGetValue(before, out var old)) old.Names.RemoveApp(app);
            if (cluster is null || !clusters.TryGetValue(cluster, out var c))
            {
                appCluster.Remove(app);
                return;
            }
            appCluster[app] = cluster;
            c.Names.SetApp(app, names);
        }
    }

    /// <inheritdoc/>
    public void Unpublish(string app)
    {
        lock (gate)
            if (appCluster.Remove(app, out var cluster) && clusters.TryGetValue(cluster, out var c)) c.Names.RemoveApp(app);
    }

    /// <inheritdoc/>
    /// <remarks>Each step runs whatever the one before it did (a refusal is logged, not thrown), bridges and rules
    /// first: they are what nothing else would remove (pooled namespaces go with this process's descriptors anyway).</remarks>
    public async Task StopAsync()
    {
        await serial.WaitAsync().ConfigureAwait(false);
        try
        {
            List<Lease> ls;
            List<Cluster> cs;
            lock (gate)
            {
                ls = [.. replicas.Values];
                cs = [.. clusters.Values];
                replicas.Clear();
                clusters.Clear();
                appCluster.Clear();
            }
            foreach (var c in cs)
            {
                Step($"bridge {c.Bridge}", () => ClusterBridge.Remove(Host, c.Bridge));
                if (c.Dns is { } d) await d.DisposeAsync().ConfigureAwait(false);
            }
            try
            {
                if (rulesLoaded is not null || cs.Count > 0) await IsolationTable.RemoveAsync(Table).ConfigureAwait(false);
                rulesLoaded = null;
            }
            catch (NodeException e)
            {
                o.Log($"net: {e.Message}");
            }
            RestoreForwarding();
            foreach (var l in ls) Step($"namespace {l.NetnsPath}", () => ReplicaNetwork.Remove(Host, l.NetnsPath, l.Veth));
            foreach (var c in cs) Step($"namespace pool of {c.Bridge}", () => DisposePool(c));
            if (Directory.Exists(NamespaceDir))
                foreach (var f in Directory.GetFiles(NamespaceDir)) Step($"namespace {f}", () => ReplicaNetwork.Remove(Host, f, VethOf(Path.GetFileName(f))));
            Step("the bridge list", () => NetworkLeftovers.SaveBridges(o.Root, []));
            if (ls.Count + cs.Count > 0) o.Log($"net: removed {ls.Count} replica namespace(s) and {cs.Count} bridge(s); addresses stay leased");
            host?.Dispose();
            host = null;
        }
        finally
        {
            serial.Release();
        }
    }

    /// <summary>One step of <see cref="StopAsync"/>: a failure is logged and the next step runs.</summary>
    private void Step(string what, Action step)
    {
        try
        {
            step();
        }
        catch (Exception e) when (e is RtException or IOException or UnauthorizedAccessException)
        {
            o.Log($"net: could not remove {what}: {e.Message}");
        }
    }
}
