using System.Net;
using Tinyo.Api.Statefile;

namespace Tinyo.Node.Reconcile;

/// <summary>One running replica as the port proxy reaches it.</summary>
/// <param name="Pid">Any process of its container: the proxy enters its network namespace when it has no
/// <paramref name="Address"/> (<c>network: none</c>) and connects to the container's loopback there.</param>
/// <param name="Address">Its cluster address, or null: the proxy connects to it from the node's own namespace over
/// the cluster's bridge, so an app that listens only on its cluster address is reachable too, and no namespace is
/// entered per connection.</param>
public readonly record struct PortUpstream(int Pid, IPAddress? Address);

/// <summary>
/// What the reconciler needs from the port proxy (node/Tinyo.Node/Ports/PortPublisher, written separately): the
/// same shape, so the proxy plugs in with a one-line adapter. <see cref="NoPorts"/> is the default until it does.
/// </summary>
public interface IPortPublisher
{
    /// <summary>Throws (with a message naming the port and who holds it) when a host port of
    /// <paramref name="app"/> is taken by another app or another process.</summary>
    void Check(string app, IEnumerable<PortSpec> ports);

    /// <summary>Listens on the host port and forwards each connection to one of <paramref name="running"/> (asked
    /// per connection): to its cluster address, or into its network namespace without one; disposing stops
    /// listening.</summary>
    IDisposable Publish(string app, PortSpec port, Func<IReadOnlyList<PortUpstream>> running);
}

/// <summary>No port publishing (ports are recorded but not reachable).</summary>
public sealed class NoPorts : IPortPublisher
{
    /// <inheritdoc/>
    public void Check(string app, IEnumerable<PortSpec> ports)
    {
    }

    /// <inheritdoc/>
    public IDisposable Publish(string app, PortSpec port, Func<IReadOnlyList<PortUpstream>> running) => new Nothing();

    private sealed class Nothing : IDisposable
    {
        public void Dispose()
        {
        }
    }
}
