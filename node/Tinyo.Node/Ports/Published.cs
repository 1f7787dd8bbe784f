using System.Net.Sockets;

namespace Tinyo.Node.Ports;

/// <summary>One published host port (TCP or UDP): who holds it and where its traffic goes.</summary>
internal abstract class Published(string app, int port, bool udp)
{
    /// <summary>Where traffic goes: the container port and the running replicas (asked per connection or client).</summary>
    protected sealed record Target(int ContainerPort, Func<IReadOnlyList<Reconcile.PortUpstream>> Upstreams);

    private volatile Target? target;
    private int generation;

    public string App => app;
    public int Port => port;
    public bool Udp => udp;
    public int Generation => Volatile.Read(ref generation);

    /// <summary>The current target (set before <see cref="Start"/>).</summary>
    protected Target Current => target!;

    /// <summary>Live connections (TCP) or client sessions (UDP).</summary>
    public abstract int Live { get; }

    /// <summary>Points new traffic at <paramref name="containerPort"/> of <paramref name="upstreams"/>; returns the new generation.</summary>
    public int Retarget(int containerPort, Func<IReadOnlyList<Reconcile.PortUpstream>> upstreams)
    {
        target = new Target(containerPort, upstreams);
        return Interlocked.Increment(ref generation);
    }

    /// <summary>Starts serving on the bound sockets.</summary>
    public abstract void Start();

    /// <summary>Closes the sockets and everything relayed through them.</summary>
    public abstract void Stop();

    /// <summary>
    /// A socket toward <paramref name="u"/>'s <paramref name="containerPort"/>: with a cluster address, made in the
    /// node's own namespace (the bridge routes it); without, made inside the replica's namespace for its loopback.
    /// </summary>
    protected static async Task<(Socket Socket, System.Net.IPEndPoint To)> UpstreamSocketAsync(Reconcile.PortUpstream u, int containerPort, bool udp)
    {
        if (u.Address is { } a)
            return (udp ? new Socket(a.AddressFamily, SocketType.Dgram, ProtocolType.Udp) : new Socket(a.AddressFamily, SocketType.Stream, ProtocolType.Tcp),
                new System.Net.IPEndPoint(a, containerPort));
        var s = udp ? await NetnsSockets.CreateUdpAsync(u.Pid).ConfigureAwait(false) : await NetnsSockets.CreateTcpAsync(u.Pid).ConfigureAwait(false);
        return (s, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, containerPort));
    }
}
