using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Tinyo.Node.Network;

/// <summary>Settings of a cluster's DNS responder.</summary>
public sealed record DnsServerOptions
{
    /// <summary>Resolvers for names outside the cluster (empty: those get REFUSED).</summary>
    public IReadOnlyList<IPEndPoint> Upstreams { get; init; } = [];

    /// <summary>How long one upstream gets to answer before the next is tried.</summary>
    public TimeSpan UpstreamTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Most TCP connections served at once (more wait in the backlog).</summary>
    public int MaxTcpConnections { get; init; } = 64;

    /// <summary>Most forwarded queries in flight (each holds a socket up to <see cref="UpstreamTimeout"/>); beyond, a
    /// query for an outside name gets SERVFAIL at once, so a flood from a replica cannot exhaust the node's fds.</summary>
    public int MaxForwards { get; init; } = 256;

    /// <summary>A TCP connection idle this long is closed.</summary>
    public TimeSpan TcpIdle { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// A cluster's DNS responder, bound on the cluster bridge's address (UDP and TCP port 53). A question for a single
/// label (<c>db</c>, <c>db-2</c>) is the cluster's: answered from the <see cref="DnsNameTable"/> — A records, NOERROR
/// with no record for other types of a known name, NXDOMAIN for an unknown one (never forwarded: cluster names
/// must not leak to the host's resolvers). Any other name is forwarded as is to the host's resolvers, one after the
/// other with a timeout, from a fresh socket each (a random source port), and the reply is relayed only if it reads
/// as a well-formed answer to that very question; none answers: SERVFAIL; no resolvers: REFUSED. Not a query
/// (a response, another opcode, not class IN): NOTIMP or REFUSED; unreadable: FORMERR. UDP answers are kept to 512
/// bytes (TC set beyond: the client retries over TCP, where up to 64 KiB go); EDNS is not spoken (the OPT record of
/// a query is ignored, which RFC 6891 allows).
/// </summary>
public sealed class DnsServer : IAsyncDisposable
{
    private const int UdpMax = 512;
    private readonly DnsNameTable names;
    private readonly DnsServerOptions options;
    private readonly CancellationTokenSource stop = new();
    private readonly SemaphoreSlim tcpSlots;
    private readonly SemaphoreSlim forwardSlots;
    private Socket? udp, tcp;
    private Task? udpLoop, tcpLoop;

    /// <summary>A responder over <paramref name="names"/>; <see cref="Start(IPEndPoint)"/> binds it.</summary>
    public DnsServer(DnsNameTable names, DnsServerOptions? options = null)
    {
        this.names = names;
        this.options = options ?? new DnsServerOptions();
        tcpSlots = new SemaphoreSlim(this.options.MaxTcpConnections);
        forwardSlots = new SemaphoreSlim(Math.Max(1, this.options.MaxForwards));
    }

    /// <summary>The UDP endpoint bound (its port when 0 was asked).</summary>
    public IPEndPoint? UdpEndpoint => udp?.LocalEndPoint as IPEndPoint;

    /// <summary>The TCP endpoint bound.</summary>
    public IPEndPoint? TcpEndpoint => tcp?.LocalEndPoint as IPEndPoint;

    /// <summary>Binds UDP and TCP on <paramref name="at"/> (port 0: any free port, the same for both is not promised).</summary>
    public void Start(IPEndPoint at) => Start(new Socket(at.AddressFamily, SocketType.Dgram, ProtocolType.Udp),
        new Socket(at.AddressFamily, SocketType.Stream, ProtocolType.Tcp), at);

    /// <summary>
    /// Binds the given unbound sockets on <paramref name="at"/> and serves (sockets made elsewhere, e.g. inside
    /// another network namespace, work the same). The server owns them from here.
    /// </summary>
    public void Start(Socket udpSocket, Socket? tcpSocket, IPEndPoint at)
    {
        udp = udpSocket;
        tcp = tcpSocket;
        try
        {
            udp.Bind(at);
            if (tcp is not null)
            {
                tcp.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                tcp.Bind(at.Port == 0 ? new IPEndPoint(at.Address, ((IPEndPoint)udp.LocalEndPoint!).Port) : at);
                tcp.Listen(64);
            }
        }
        catch (SocketException e)
        {
            udp.Dispose();
            tcp?.Dispose();
            throw new NodeException($"dns: cannot bind {at}: {e.Message}", e);
        }
        udpLoop = Task.Run(UdpLoopAsync);
        if (tcp is not null) tcpLoop = Task.Run(TcpLoopAsync);
    }

    /// <summary>
    /// Answers one query (the bytes of a UDP datagram or of one TCP message); null when nothing should be sent back
    /// (a response, or fewer than 2 bytes). <paramref name="maxSize"/> bounds the local answers.
    /// </summary>
    public async Task<byte[]?> AnswerAsync(byte[] query, int maxSize, bool overTcp, CancellationToken ct)
    {
        DnsQuestion q;
        try
        {
            q = DnsMessage.ReadQuestion(query);
        }
        catch (DnsFormatException)
        {
            if (query.Length >= 3 && (query[2] & 0x80) != 0) return null; // a response: never answer one
            return DnsResponse.Error(query, DnsMessage.FormErr);
        }
        if (q.IsResponse) return null;
        bool recursion = options.Upstreams.Count > 0;
        if (q.Opcode != 0) return DnsResponse.Build(q, DnsMessage.NotImp, [], maxSize, recursion);
        if (q.Class != DnsMessage.ClassIn) return DnsResponse.Build(q, DnsMessage.Refused, [], maxSize, recursion);
        var name = q.Name;
        if (name.Length > 0 && !name.Contains('.'))
        {
            var found = names.Lookup(name, rotate: q.Type == DnsMessage.TypeA);
            if (found is null) return DnsResponse.Build(q, DnsMessage.NxDomain, [], maxSize, recursion);
            return DnsResponse.Build(q, DnsMessage.NoError, q.Type == DnsMessage.TypeA ? found : [], maxSize, recursion);
        }
        if (!recursion) return DnsResponse.Build(q, DnsMessage.Refused, [], maxSize, recursion);
        if (!forwardSlots.Wait(0)) return DnsResponse.Build(q, DnsMessage.ServFail, [], maxSize, recursion);
        try
        {
            foreach (var up in options.Upstreams)
            {
                var reply = overTcp ? await ForwardTcpAsync(up, query, ct).ConfigureAwait(false) : await ForwardUdpAsync(up, query, ct).ConfigureAwait(false);
                if (reply is not null && Matches(q, reply)) return reply;
            }
        }
        finally
        {
            forwardSlots.Release();
        }
        return DnsResponse.Build(q, DnsMessage.ServFail, [], maxSize, recursion);
    }

    private static bool Matches(DnsQuestion q, byte[] reply)
    {
        try
        {
            var (r, _) = DnsMessage.ReadAll(reply);
            return r.IsResponse && r.Id == q.Id && r.Type == q.Type && r.Class == q.Class && string.Equals(r.Name, q.Name, StringComparison.OrdinalIgnoreCase);
        }
        catch (DnsFormatException)
        {
            return false;
        }
    }

    private async Task<byte[]?> ForwardUdpAsync(IPEndPoint up, byte[] query, CancellationToken ct)
    {
        using var s = new Socket(up.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.UpstreamTimeout);
        try
        {
            await s.ConnectAsync(up, timeout.Token).ConfigureAwait(false);
            await s.SendAsync(query, SocketFlags.None, timeout.Token).ConfigureAwait(false);
            var buf = new byte[65535];
            while (true)
            {
                int n = await s.ReceiveAsync(buf, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (n >= 2 && buf[0] == query[0] && buf[1] == query[1]) return buf[..n];
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            return null;
        }
    }

    private async Task<byte[]?> ForwardTcpAsync(IPEndPoint up, byte[] query, CancellationToken ct)
    {
        using var s = new Socket(up.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.UpstreamTimeout);
        try
        {
            await s.ConnectAsync(up, timeout.Token).ConfigureAwait(false);
            var framed = new byte[query.Length + 2];
            BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
            query.CopyTo(framed, 2);
            await s.SendAsync(framed, SocketFlags.None, timeout.Token).ConfigureAwait(false);
            return await ReadFramedAsync(s, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            return null;
        }
    }

    private async Task UdpLoopAsync()
    {
        var buf = new byte[65535];
        var any = new IPEndPoint(udp!.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!stop.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try
            {
                r = await udp.ReceiveFromAsync(buf, SocketFlags.None, any, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { continue; } // e.g. ICMP port unreachable of an earlier reply
            var query = buf[..r.ReceivedBytes];
            var from = r.RemoteEndPoint;
            _ = Task.Run(async () =>
            {
                try
                {
                    var answer = await AnswerAsync(query, UdpMax, false, stop.Token).ConfigureAwait(false);
                    if (answer is null) return;
                    if (answer.Length > UdpMax) answer = TruncateForUdp(answer);
                    await udp.SendToAsync(answer, SocketFlags.None, from, stop.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { }
            });
        }
    }

    /// <summary>A forwarded answer too big for UDP: header and question only, TC set (the client retries over TCP).</summary>
    private static byte[] TruncateForUdp(byte[] answer)
    {
        try
        {
            var q = DnsMessage.ReadQuestion(answer);
            var t = answer[..q.QuestionEnd];
            t[2] |= 0x02;
            t.AsSpan(6, 6).Clear();
            return t;
        }
        catch (DnsFormatException)
        {
            return answer[..DnsMessage.HeaderSize];
        }
    }

    private async Task TcpLoopAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            Socket c;
            try
            {
                await tcpSlots.WaitAsync(stop.Token).ConfigureAwait(false);
                c = await tcp!.AcceptAsync(stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { return; }
            catch (SocketException)
            {
                tcpSlots.Release();
                continue;
            }
            _ = Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        using var idle = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                        idle.CancelAfter(options.TcpIdle);
                        var query = await ReadFramedAsync(c, idle.Token).ConfigureAwait(false);
                        if (query is null) return;
                        var answer = await AnswerAsync(query, 65535, true, stop.Token).ConfigureAwait(false);
                        if (answer is null) return;
                        var framed = new byte[answer.Length + 2];
                        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)answer.Length);
                        answer.CopyTo(framed, 2);
                        await c.SendAsync(framed, SocketFlags.None, stop.Token).ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { }
                finally
                {
                    c.Dispose();
                    tcpSlots.Release();
                }
            });
        }
    }

    /// <summary>One length-prefixed message (RFC 1035 §4.2.2); null at end of stream.</summary>
    private static async Task<byte[]?> ReadFramedAsync(Socket s, CancellationToken ct)
    {
        var len = new byte[2];
        if (!await ReadExactlyAsync(s, len, ct).ConfigureAwait(false)) return null;
        var msg = new byte[BinaryPrimitives.ReadUInt16BigEndian(len)];
        return await ReadExactlyAsync(s, msg, ct).ConfigureAwait(false) ? msg : null;
    }

    private static async Task<bool> ReadExactlyAsync(Socket s, Memory<byte> buf, CancellationToken ct)
    {
        int got = 0;
        while (got < buf.Length)
        {
            int n = await s.ReceiveAsync(buf[got..], SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0) return false;
            got += n;
        }
        return true;
    }

    /// <summary>Stops serving and closes the sockets.</summary>
    public async ValueTask DisposeAsync()
    {
        stop.Cancel();
        udp?.Dispose();
        tcp?.Dispose();
        foreach (var t in (Task?[])[udpLoop, tcpLoop])
            if (t is not null)
                try { await t.ConfigureAwait(false); } catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { }
        stop.Dispose();
        // The semaphores are not disposed: a connection or forward still finishing releases its slot afterwards
        // (they hold no handle unless AvailableWaitHandle is used, which it is not).
    }
}
