using Tinyo.Linux;
using Tinyo.Rt.Network;

namespace Tinyo.Rt.Duplicate;

/// <summary>
/// Empty network namespaces (loopback up) made on another thread while a duplication does its other work, so the
/// clone joins a ready one instead of creating it in its clone(2): a new network namespace is the dearest part of
/// that call — every per-namespace init of the kernel and the loopback device registered under the global rtnl lock,
/// contended by every namespace being torn down on the host (the breakdown in docs/benchmarks.md, § 9) — and here it
/// overlaps the snapshot, the state files and the cgroup instead of following them.
/// </summary>
/// <remarks>
/// Each namespace lives by the fd held here until <see cref="Take"/> hands it over; the clone child then joins it
/// (setns, a launch step), and the caller closes the fd once the clone runs: from then on the clone's process holds
/// the namespace, exactly as if it had made it. Nothing is mounted, so a crash leaks nothing (the kernel closes the
/// fds and the namespaces go). The clone's <c>config.json</c> keeps a network namespace without a path (its own), as
/// it would have without the reserve. <see cref="Dispose"/> closes whatever was not taken.
/// </remarks>
internal sealed class NetnsReserve : IDisposable
{
    private readonly Task<int>[] _made;
    private int _next;

    /// <summary>Starts making <paramref name="count"/> namespaces, one after the other, on the thread pool.</summary>
    public NetnsReserve(int count)
    {
        _made = new Task<int>[count];
        Task<int> previous = Task.FromResult(-1);
        for (int i = 0; i < count; i++)
            _made[i] = previous = previous.ContinueWith(_ => Make(), TaskScheduler.Default);
    }

    /// <summary>The next namespace's fd (waits until it is made); the caller closes it. Throws what making it threw.
    /// Safe from several threads (clones made in parallel): each gets a namespace of its own.</summary>
    public int Take()
    {
        int i = Interlocked.Increment(ref _next) - 1;
        var t = _made[i];
        try { return t.GetAwaiter().GetResult(); }
        finally { _made[i] = Task.FromResult(-1); }
    }

    private static int Make() => NetnsThread.RunInNew(() =>
    {
        int fd = Libc.SysOpen("/proc/thread-self/ns/net", Libc.OFlag.RdOnly | Libc.OFlag.Cloexec, 0);
        if (fd < 0) throw Libc.Error("opening a new network namespace");
        try
        {
            using var rt = Rtnetlink.Wrap(Network.Netlink.NetlinkSocket.Open());
            rt.SetUp(1, true); // lo: always index 1 in a new namespace
            return fd;
        }
        catch
        {
            Libc.SysClose(fd);
            throw;
        }
    });

    /// <summary>Closes the namespaces not taken (waiting for those still being made).</summary>
    public void Dispose()
    {
        for (int i = _next; i < _made.Length; i++)
        {
            try { if (_made[i].GetAwaiter().GetResult() is var fd and >= 0) Libc.SysClose(fd); }
            catch (RtException) { }
        }
        _next = _made.Length;
    }
}
