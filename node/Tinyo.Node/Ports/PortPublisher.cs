using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Tinyo.Api.Statefile;

namespace Tinyo.Node.Ports;

/// <summary>
/// Publishes container ports on the host without iptables: a user-space TCP proxy. For a published port the node
/// listens on every host address (<c>0.0.0.0</c> and, when the host has IPv6, <c>[::]</c>); each accepted
/// connection goes to one running replica (round robin): to <c>ADDRESS:CONTAINER</c> over its cluster network when
/// it has a cluster address (a socket of the node's own namespace, routed by the cluster's bridge), else — a
/// <c>network: none</c> replica, loopback only — through a socket created inside its network namespace (see
/// <see cref="NetnsSockets"/>) connected to <c>127.0.0.1:CONTAINER</c> there; the bytes are moved both ways by
/// <see cref="ByteRelay"/> (recv/send through a pooled buffer; splice(2) on request).
/// </summary>
/// <remarks>
/// One publisher per node. A host port belongs to one app at a time; publishing it again for the same app (an
/// update) re-targets the existing listeners without closing them — connections keep flowing — and the newest
/// handle becomes the one whose disposal stops the listener (disposing an older handle is then a no-op). UDP ports
/// (<c>53:53/udp</c>) are relayed per client address (<see cref="UdpPublication"/>).
/// </remarks>
public sealed class PortPublisher : IDisposable, Reconcile.IPortPublisher
{
    private readonly Action<string> log;
    private readonly Lock gate = new();
    private readonly Dictionary<(int Port, bool Udp), Published> published = [];
    private bool disposed;

    /// <summary>Creates a publisher that reports problems (failed accepts, unreachable replicas) to <paramref name="log"/>.</summary>
    public PortPublisher(Action<string> log) => this.log = log;

    /// <summary>How connections move their bytes (default <see cref="RelayMode.Copy"/>: measured faster here).</summary>
    public RelayMode Mode { get; init; } = RelayMode.Copy;

    /// <summary>How long a connect to a replica may take before the next replica is tried.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a UDP client session lives without traffic either way (default 60 s).</summary>
    public TimeSpan UdpIdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The host ports published now (<c>8080</c>, <c>53/udp</c>), with the app holding each.</summary>
    public IReadOnlyDictionary<string, string> Ports
    {
        get
        {
            lock (gate) return published.ToDictionary(kv => kv.Key.Port + (kv.Key.Udp ? "/udp" : ""), kv => kv.Value.App);
        }
    }

    /// <summary>
    /// Checks that <paramref name="app"/> may publish <paramref name="ports"/>: each host port is free, or already
    /// published for this same app. Throws <see cref="PortInUseException"/> naming the holder otherwise, and a
    /// <see cref="NodeException"/> for a port number out of range or an unknown protocol.
    /// </summary>
    public void Check(string app, IEnumerable<PortSpec> ports)
    {
        foreach (var p in ports)
        {
            bool udp = Validate(p);
            lock (gate)
            {
                if (published.TryGetValue((p.Host, udp), out var pub))
                {
                    if (pub.App != app) throw new PortInUseException(p.Host, p.Protocol, pub.App);
                    continue;
                }
            }
            // Binding (without listening) is the only reliable test: it sees every address and both families.
            foreach (var l in Bind(p.Host, udp, listen: false)) l.Dispose();
        }
    }

    /// <summary>
    /// Starts forwarding host port <c>port.Host</c> to <c>port.Container</c> in the replicas
    /// <paramref name="runningPids"/> returns (asked on every connection: pids of running containers, any process
    /// of each will do), each through its loopback. Dispose the result to stop listening and close its connections.
    /// </summary>
    public IDisposable Publish(string app, PortSpec port, Func<IReadOnlyList<int>> runningPids)
        => Publish(app, port, () =>
        {
            var pids = runningPids();
            var list = new Reconcile.PortUpstream[pids.Count];
            for (int i = 0; i < list.Length; i++) list[i] = new Reconcile.PortUpstream(pids[i], null);
            return list;
        });

    /// <summary>
    /// Starts forwarding host port <c>port.Host</c> to <c>port.Container</c> of the replicas <paramref name="running"/>
    /// returns (asked on every connection): over its cluster address when it has one, else through its loopback.
    /// Dispose the result to stop listening and close its connections.
    /// </summary>
    public IDisposable Publish(string app, PortSpec port, Func<IReadOnlyList<Reconcile.PortUpstream>> running)
    {
        bool udp = Validate(port);
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (published.TryGetValue((port.Host, udp), out var pub))
            {
                if (pub.App != app) throw new PortInUseException(port.Host, port.Protocol, pub.App);
                return new Handle(this, pub, pub.Retarget(port.Container, running));
            }
            var sockets = Bind(port.Host, udp, listen: true);
            pub = udp ? new UdpPublication(app, port.Host, sockets, UdpIdleTimeout, log) : new Publication(app, port.Host, sockets, Mode, ConnectTimeout, log);
            int generation = pub.Retarget(port.Container, running);
            published[(port.Host, udp)] = pub;
            pub.Start();
            log($"port {port} published for app {app}");
            return new Handle(this, pub, generation);
        }
    }

    /// <summary>Checks the numbers and the protocol; true for UDP.</summary>
    private static bool Validate(PortSpec p)
    {
        if (p.Host is < 1 or > 65535 || p.Container is < 1 or > 65535)
            throw new NodeException($"port {p}: port numbers must be between 1 and 65535");
        if (p.Protocol is not ("tcp" or "udp")) throw new NodeException($"port {p}: unknown protocol '{p.Protocol}' (tcp or udp)");
        return p.Protocol == "udp";
    }

    /// <summary>Binds (and for TCP optionally listens on) <c>0.0.0.0:port</c> and <c>[::]:port</c> (IPv6 only when available).</summary>
    private static List<Socket> Bind(int port, bool udp, bool listen)
    {
        var sockets = new List<Socket>(2);
        try
        {
            sockets.Add(BindOne(new IPEndPoint(IPAddress.Any, port), udp, listen)!);
            if (Socket.OSSupportsIPv6 && BindOne(new IPEndPoint(IPAddress.IPv6Any, port), udp, listen) is { } v6) sockets.Add(v6);
            return sockets;
        }
        catch
        {
            foreach (var s in sockets) s.Dispose();
            throw;
        }
    }

    private static Socket? BindOne(IPEndPoint ep, bool udp, bool listen)
    {
        var s = udp ? new Socket(ep.AddressFamily, SocketType.Dgram, ProtocolType.Udp) : new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // TCP: SO_REUSEADDR, so connections of a previous listener in TIME_WAIT do not block a re-publish. Never for
            // UDP: there it would let two sockets share the port, and a taken port would look free.
            if (!udp) s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (ep.AddressFamily == AddressFamily.InterNetworkV6) s.DualMode = false; // IPv4 has its own socket
            s.Bind(ep);
            if (listen && !udp) s.Listen(512);
            return s;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            s.Dispose();
            throw new PortInUseException(ep.Port, udp ? "udp" : "tcp", null);
        }
        catch (SocketException e) when (ep.AddressFamily == AddressFamily.InterNetworkV6 &&
                                        e.SocketErrorCode is SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported)
        {
            s.Dispose();
            return null; // IPv6 disabled on this host
        }
        catch (SocketException e)
        {
            s.Dispose();
            throw new NodeException($"port {ep.Port}: cannot listen on {ep}: {e.Message}");
        }
    }

    private void Release(Published pub, int generation)
    {
        lock (gate)
        {
            if (pub.Generation != generation || !published.TryGetValue((pub.Port, pub.Udp), out var cur) || cur != pub) return;
            published.Remove((pub.Port, pub.Udp));
        }
        pub.Stop();
        log($"port {pub.Port}{(pub.Udp ? "/udp" : "")} of app {pub.App} unpublished");
    }

    /// <summary>Stops every listener and closes every connection.</summary>
    public void Dispose()
    {
        List<Published> all;
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            all = [.. published.Values];
            published.Clear();
        }
        foreach (var p in all) p.Stop();
    }

    /// <summary>Live proxied connections (UDP: client sessions) on <paramref name="hostPort"/> (for tests and status).</summary>
    internal int Connections(int hostPort, bool udp = false)
    {
        lock (gate) return published.TryGetValue((hostPort, udp), out var p) ? p.Live : 0;
    }

    private sealed class Handle(PortPublisher owner, Published pub, int generation) : IDisposable
    {
        private int done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref done, 1) == 0) owner.Release(pub, generation);
        }
    }

    /// <summary>One published TCP host port: its listeners, where connections go, and the connections themselves.</summary>
    private sealed class Publication(string app, int port, List<Socket> listeners, RelayMode mode, TimeSpan connectTimeout, Action<string> log)
        : Published(app, port, udp: false)
    {
        private readonly CancellationTokenSource stop = new();
        private readonly ConcurrentDictionary<Socket, byte> live = new();
        private int next, connections;

        public override int Live => Volatile.Read(ref connections);

        public override void Start()
        {
            foreach (var l in listeners) _ = AcceptLoopAsync(l);
        }

        public override void Stop()
        {
            stop.Cancel();
            foreach (var l in listeners) l.Dispose();
            foreach (var s in live.Keys) s.Dispose();
        }

        private async Task AcceptLoopAsync(Socket listener)
        {
            while (!stop.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await listener.AcceptAsync(stop.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || stop.IsCancellationRequested)
                {
                    return;
                }
                catch (SocketException e)
                {
                    // EMFILE and friends: say so, breathe, go on; the listener stays.
                    log($"port {Port}: accept: {e.Message}");
                    await Task.Delay(100).ConfigureAwait(false);
                    continue;
                }
                _ = ServeAsync(client);
            }
        }

        private async Task ServeAsync(Socket client)
        {
            Socket? upstream = null;
            Interlocked.Increment(ref connections);
            live[client] = 0;
            try
            {
                if (stop.IsCancellationRequested) return; // raced with Stop: its sweep may have missed us
                client.NoDelay = true;
                upstream = await ConnectUpstreamAsync().ConfigureAwait(false);
                if (upstream is null) return; // no running replica: the client sees its connection closed
                live[upstream] = 0;
                if (stop.IsCancellationRequested) return;
                await ByteRelay.RunAsync(client, upstream, mode).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                log($"port {Port}: connection failed: {e.GetType().Name}: {e.Message}");
            }
            finally
            {
                live.TryRemove(client, out _);
                client.Dispose();
                if (upstream is not null)
                {
                    live.TryRemove(upstream, out _);
                    upstream.Dispose();
                }
                Interlocked.Decrement(ref connections);
            }
        }

        private async Task<Socket?> ConnectUpstreamAsync()
        {
            var t = Current;
            IReadOnlyList<Reconcile.PortUpstream> pids;
            try
            {
                pids = t.Upstreams();
            }
            catch (Exception e)
            {
                log($"port {Port}: listing the replicas of {App}: {e.Message}");
                return null;
            }
            if (pids.Count == 0) return null;
            int start = (int)((uint)Interlocked.Increment(ref next) % (uint)pids.Count);
            Exception? last = null;
            // Round robin; a replica that is gone or refuses is skipped for the next one, each tried once.
            for (int i = 0; i < pids.Count; i++)
            {
                var u = pids[(start + i) % pids.Count];
                Socket? s = null;
                try
                {
                    (s, var to) = await UpstreamSocketAsync(u, t.ContainerPort, udp: false).ConfigureAwait(false);
                    using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                    cts.CancelAfter(connectTimeout);
                    await s.ConnectAsync(to, cts.Token).ConfigureAwait(false);
                    s.NoDelay = true;
                    return s;
                }
                catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
                {
                    s?.Dispose();
                    last = e;
                    if (stop.IsCancellationRequested) return null;
                }
            }
            log($"port {Port}: no replica of {App} accepted a connection on its port {t.ContainerPort}: {last?.Message}");
            return null;
        }
    }
}
