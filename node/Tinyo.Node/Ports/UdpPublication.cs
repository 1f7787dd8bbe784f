using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Tinyo.Node.Ports;

/// <summary>
/// A published UDP port. UDP has no connections, so the relay keeps a session per client address: the first
/// datagram from a client picks a replica (round robin) and gets an upstream UDP socket made in that replica's
/// network namespace and connected to <c>127.0.0.1:CONTAINER</c>; the client's datagrams go out through it, and
/// what comes back on it is sent to the client from the published port. A session idle for
/// the publisher's <see cref="PortPublisher.UdpIdleTimeout"/> is closed (a client that comes back later starts a new one, maybe on another replica).
/// Datagrams are forwarded one by one, never merged or split; one that cannot be delivered is dropped, as UDP does.
/// </summary>
internal sealed class UdpPublication(string app, int port, List<Socket> sockets, TimeSpan idleTimeout, Action<string> log) : Published(app, port, udp: true)
{
    private sealed class Session(Socket upstream)
    {
        public Socket Upstream { get; } = upstream;
        public long LastUsed = Environment.TickCount64;
    }

    private readonly CancellationTokenSource stop = new();
    private readonly ConcurrentDictionary<EndPoint, Session> sessions = new();
    private int next;

    public override int Live => sessions.Count;

    public override void Start()
    {
        foreach (var s in sockets) _ = ReceiveLoopAsync(s);
        _ = ExpireLoopAsync();
    }

    public override void Stop()
    {
        stop.Cancel();
        foreach (var s in sockets) s.Dispose();
        foreach (var s in sessions.Values) s.Upstream.Dispose();
        sessions.Clear();
    }

    private async Task ReceiveLoopAsync(Socket listener)
    {
        var buf = new byte[65536];
        EndPoint any = listener.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0);
        while (!stop.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try
            {
                r = await listener.ReceiveFromAsync(buf, SocketFlags.None, any, stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // e.g. ECONNREFUSED from an earlier send's ICMP error: not this listener's problem
            }
            var client = r.RemoteEndPoint;
            if (!sessions.TryGetValue(client, out var session))
            {
                session = await OpenAsync(listener, client).ConfigureAwait(false);
                if (session is null) continue; // no replica: the datagram is dropped
            }
            Volatile.Write(ref session.LastUsed, Environment.TickCount64);
            try
            {
                await session.Upstream.SendAsync(buf.AsMemory(0, r.ReceivedBytes), SocketFlags.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Dropped (the container's port is closed: ICMP refused); the session stays until it idles out.
            }
        }
    }

    private async Task<Session?> OpenAsync(Socket listener, EndPoint client)
    {
        var t = Current;
        IReadOnlyList<Reconcile.PortUpstream> pids;
        try
        {
            pids = t.Upstreams();
        }
        catch (Exception e)
        {
            log($"port {Port}/udp: listing the replicas of {App}: {e.Message}");
            return null;
        }
        if (pids.Count == 0) return null;
        int start = (int)((uint)Interlocked.Increment(ref next) % (uint)pids.Count);
        for (int i = 0; i < pids.Count; i++)
        {
            Socket? s = null;
            try
            {
                (s, var to) = await UpstreamSocketAsync(pids[(start + i) % pids.Count], t.ContainerPort, udp: true).ConfigureAwait(false);
                s.Connect(to);
                var session = new Session(s);
                if (stop.IsCancellationRequested || !sessions.TryAdd(client, session))
                {
                    s.Dispose();
                    return stop.IsCancellationRequested ? null : sessions.GetValueOrDefault(client);
                }
                _ = ReplyLoopAsync(listener, client, session);
                return session;
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                s?.Dispose();
            }
        }
        log($"port {Port}/udp: no replica of {App} could take a client");
        return null;
    }

    private async Task ReplyLoopAsync(Socket listener, EndPoint client, Session session)
    {
        var buf = new byte[65536];
        while (!stop.IsCancellationRequested)
        {
            int n;
            try
            {
                n = await session.Upstream.ReceiveAsync(buf, SocketFlags.None, stop.Token).ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                continue; // the container had no listener for an earlier datagram
            }
            catch (Exception)
            {
                return; // closed (idle, stopped) or failed
            }
            Volatile.Write(ref session.LastUsed, Environment.TickCount64);
            try
            {
                await listener.SendToAsync(buf.AsMemory(0, n), SocketFlags.None, client).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (stop.IsCancellationRequested) return;
            }
        }
    }

    private async Task ExpireLoopAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromTicks(Math.Max(idleTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 50)), stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            long now = Environment.TickCount64;
            foreach (var (client, s) in sessions)
                if (now - Volatile.Read(ref s.LastUsed) > (long)idleTimeout.TotalMilliseconds && sessions.TryRemove(client, out _))
                    s.Upstream.Dispose();
        }
    }
}
