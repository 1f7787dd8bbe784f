using Tinyo.Api.Statefile;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// What the reconciler needs from the port proxy (node/Tinyo.Node/Ports/PortPublisher, written separately): the
/// same shape, so the proxy plugs in with a one-line adapter. <see cref="NoPorts"/> is the default until it does.
/// </summary>
public interface IPortPublisher
{
    /// <summary>Throws (with a message naming the port and who holds it) when a host port of
    /// <paramref name="app"/> is taken by another app or another process.</summary>
    void Check(string app, IEnumerable<PortSpec> ports);

    /// <summary>Listens on the host port and forwards each connection into the network namespace of one of
    /// <paramref name="runningPids"/> (asked per connection); disposing stops listening.</summary>
    IDisposable Publish(string app, PortSpec port, Func<IReadOnlyList<int>> runningPids);
}

/// <summary>No port publishing (ports are recorded but not reachable).</summary>
public sealed class NoPorts : IPortPublisher
{
    /// <inheritdoc/>
    public void Check(string app, IEnumerable<PortSpec> ports)
    {
    }

    /// <inheritdoc/>
    public IDisposable Publish(string app, PortSpec port, Func<IReadOnlyList<int>> runningPids) => new Nothing();

    private sealed class Nothing : IDisposable
    {
        public void Dispose()
        {
        }
    }
}
