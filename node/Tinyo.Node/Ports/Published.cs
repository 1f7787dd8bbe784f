namespace Tinyo.Node.Ports;

/// <summary>One published host port (TCP or UDP): who holds it and where its traffic goes.</summary>
internal abstract class Published(string app, int port, bool udp)
{
    /// <summary>Where traffic goes: the container port and the replicas' pids (asked per connection or client).</summary>
    protected sealed record Target(int ContainerPort, Func<IReadOnlyList<int>> Pids);

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

    /// <summary>Points new traffic at <paramref name="containerPort"/> of <paramref name="pids"/>; returns the new generation.</summary>
    public int Retarget(int containerPort, Func<IReadOnlyList<int>> pids)
    {
        target = new Target(containerPort, pids);
        return Interlocked.Increment(ref generation);
    }

    /// <summary>Starts serving on the bound sockets.</summary>
    public abstract void Start();

    /// <summary>Closes the sockets and everything relayed through them.</summary>
    public abstract void Stop();
}
