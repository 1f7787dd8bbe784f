using System.Diagnostics;
using Tinyo.Linux;
using Tinyo.Rt.Network.Netlink;

namespace Tinyo.Rt.Network;

/// <summary>
/// Network namespaces made ahead, so a replica's network set-up on the start path is two netlink round trips and a
/// bind mount instead of a namespace creation and a veth creation (≈ 90 % of the cold cost: <c>unshare</c> runs
/// every per-namespace init of the kernel, a veth pair registers two devices under the global rtnl lock).
/// </summary>
/// <remarks>
/// <para>A pooled entry is a namespace with <c>lo</c> up and <c>eth0</c> up, whose veth peer waits in the host
/// namespace, down, under a pool name (<c>tp</c> + pid + sequence), already a port of the pool's bridge when the pool
/// was made for one. <see cref="Prepare"/> takes one and: bind-mounts the namespace on the spec's path; renames the
/// host end to the spec's name, sets it up and enslaves it to the spec's bridge — a no-op for the pool's own — (one
/// RTM_NEWLINK); adds the address and the default route (one batch). No thread hop:
/// everything runs on the caller's thread, from sockets made earlier. The result is exactly what
/// <see cref="ReplicaNetwork.Prepare"/> makes, so <see cref="ReplicaNetwork.Remove"/> removes both alike.</para>
/// <para>A background thread tops the pool up after every claim. When the pool is empty (a burst larger than it)
/// or the spec asks for a non-default MTU, <see cref="Prepare"/> falls back to <see cref="ReplicaNetwork.Prepare"/>.</para>
/// <para>Nothing pooled is mounted: an entry lives by its namespace fd and netlink socket only. So if the process
/// dies, the kernel closes them, the namespace goes and takes its veth pair (both ends) along: a crash leaks
/// nothing, and a restarted node never finds pool links to recover. <see cref="Dispose"/> deletes them at once.</para>
/// </remarks>
public sealed class ReplicaNetworkPool : IDisposable
{
    /// <summary>Prefix of the host ends of pooled veth pairs (distinct from <see cref="VethName.Prefix"/>).</summary>
    public const string PoolPrefix = "tp";

    private static int sequence;

    private readonly Lock gate = new();
    private readonly Lock fillGate = new();
    private readonly Stack<Entry> entries = new();
    private readonly Rtnetlink poolHost;
    private readonly Thread? refiller;
    private readonly AutoResetEvent wake = new(false);
    private volatile bool disposed;
    private int claimed, fellBack;

    /// <summary>
    /// A pool of <paramref name="capacity"/> namespaces whose veth ends wait in the network namespace at
    /// <paramref name="hostNetnsPath"/> (null: the process's own). With <paramref name="refillInBackground"/> a thread
    /// fills the pool now and tops it up after each claim; without, only <see cref="Fill"/> does. With
    /// <paramref name="bridgeIndex"/> (a cluster's bridge: one pool per bridge) the waiting ends are its ports
    /// already, which takes the enslaving off the start path; claims for another bridge still work.
    /// </summary>
    public ReplicaNetworkPool(int capacity, string? hostNetnsPath = null, bool refillInBackground = true, int bridgeIndex = 0)
    {
        BridgeIndex = bridgeIndex;
        if (capacity is < 1 or > 4096) throw new RtException($"network namespace pool size {capacity} is not 1..4096");
        Capacity = capacity;
        int hostFd = Libc.SysOpen(hostNetnsPath ?? "/proc/self/ns/net", Libc.OFlag.RdOnly | Libc.OFlag.Cloexec, 0);
        if (hostFd < 0) throw Libc.Error("opening the pool's host network namespace", hostNetnsPath ?? "/proc/self/ns/net");
        try
        {
            // The pool's own socket in the host namespace: refills never wait on the caller's socket lock.
            poolHost = Rtnetlink.Wrap(NetnsThread.RunIn(hostFd, NetlinkSocket.Open));
        }
        finally
        {
            Libc.SysClose(hostFd);
        }
        if (refillInBackground)
        {
            refiller = new Thread(Refill, 256 * 1024) { IsBackground = true, Name = "tinyo netns pool" };
            refiller.Start();
            wake.Set();
        }
    }

    /// <summary>The bridge whose ports the waiting veth ends are (0: none).</summary>
    public int BridgeIndex { get; }

    /// <summary>How many namespaces the pool keeps ready.</summary>
    public int Capacity { get; }

    /// <summary>How many are ready now.</summary>
    public int Available
    {
        get
        {
            lock (gate) return entries.Count;
        }
    }

    /// <summary>Set-ups served from the pool so far.</summary>
    public int Claimed => Volatile.Read(ref claimed);

    /// <summary>Set-ups that found the pool empty (or needed a non-default MTU) and made everything on the spot.</summary>
    public int FellBack => Volatile.Read(ref fellBack);

    /// <summary>The background refill's last failure (it retries a second later), null when none.</summary>
    public Exception? LastRefillError { get; private set; }

    /// <summary>Tops the pool up to <see cref="Capacity"/> on the calling thread; returns how many it made.</summary>
    public int Fill()
    {
        int made = 0;
        while (!disposed && Available < Capacity)
        {
            lock (fillGate)
            {
                if (disposed || Available >= Capacity) break;
                var e = Make();
                lock (gate) entries.Push(e);
                made++;
            }
        }
        return made;
    }

    /// <summary>
    /// Sets up a replica's network as <see cref="ReplicaNetwork.Prepare"/> does, from a pooled namespace when one is
    /// ready. <paramref name="host"/> must be a client of the pool's host namespace. On failure nothing is left (no
    /// namespace file, no veth) and the error names the step; the claimed entry is destroyed, not returned.
    /// </summary>
    public ReplicaSetupTimes Prepare(Rtnetlink host, ReplicaNetworkSpec spec)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Rtnetlink.CheckName(spec.HostVeth);
        Entry? e = null;
        if (spec.Mtu == 0)
            lock (gate)
                entries.TryPop(out e);
        if (e is null)
        {
            Interlocked.Increment(ref fellBack);
            wake.Set();
            return ReplicaNetwork.Prepare(host, spec);
        }
        try
        {
            return Claim(host, e, spec);
        }
        finally
        {
            wake.Set();
        }
    }

    private ReplicaSetupTimes Claim(Rtnetlink host, Entry e, ReplicaNetworkSpec spec)
    {
        long t0 = Stopwatch.GetTimestamp(), t1 = t0, t2 = t0;
        bool mounted = false;
        try
        {
            int f = Libc.SysOpen(spec.NetnsPath, Libc.OFlag.RdOnly | Libc.OFlag.Creat | Libc.OFlag.Excl | Libc.OFlag.Cloexec, 0);
            if (f < 0) throw Libc.Error("creating network namespace file", spec.NetnsPath);
            Libc.SysClose(f);
            if (Libc.Mount($"/proc/self/fd/{e.NsFd}", spec.NetnsPath, null, Libc.MS_BIND, null) != 0)
            {
                var err = Libc.Error("mounting the network namespace on", spec.NetnsPath);
                Libc.SysUnlink(spec.NetnsPath);
                throw err;
            }
            mounted = true;
            t1 = Stopwatch.GetTimestamp();
            host.AdoptIdleVeth(e.HostIndex, spec.HostVeth, spec.BridgeIndex);
            t2 = Stopwatch.GetTimestamp();
            e.Netlink.AddAddressAndDefaultRoute(e.Eth0, spec.Address, spec.PrefixLength, spec.Gateway);
        }
        catch
        {
            // The host end still has its pool index whatever its name is now; deleting it takes eth0 along.
            host.TryDeleteLink(e.HostIndex);
            if (mounted) NetworkNamespace.Remove(spec.NetnsPath);
            e.Dispose();
            throw;
        }
        e.Dispose(); // the bind mount holds the namespace from here on
        Interlocked.Increment(ref claimed);
        long t3 = Stopwatch.GetTimestamp();
        return new ReplicaSetupTimes(Stopwatch.GetElapsedTime(t0, t1), Stopwatch.GetElapsedTime(t1, t2), Stopwatch.GetElapsedTime(t2, t3)) { Pooled = true };
    }

    /// <summary>One pooled entry: a new namespace (on <see cref="NetnsThread"/>), its veth pair, lo and eth0 up.</summary>
    private Entry Make()
    {
        int nsfd = -1;
        NetlinkSocket? sock = null;
        try
        {
            NetnsThread.RunInNew(() =>
            {
                nsfd = Libc.SysOpen("/proc/thread-self/ns/net", Libc.OFlag.RdOnly | Libc.OFlag.Cloexec, 0);
                if (nsfd < 0) throw Libc.Error("opening a new network namespace");
                sock = NetlinkSocket.Open();
                return 0;
            });
        }
        catch
        {
            sock?.Dispose();
            if (nsfd >= 0) Libc.SysClose(nsfd);
            throw;
        }
        var nl = Rtnetlink.Wrap(sock!);
        var name = NextName();
        bool veth = false;
        try
        {
            poolHost.CreateVethPair(name, ReplicaNetwork.Interface, nsfd, BridgeIndex, hostUp: false);
            veth = true;
            int hostIndex = poolHost.LinkIndex(name);
            int eth0 = nl.LinkIndex(ReplicaNetwork.Interface);
            nl.SetLoopbackAndLinkUp(eth0);
            return new Entry(nsfd, nl, hostIndex, eth0);
        }
        catch
        {
            if (veth) poolHost.TryDeleteLink(name);
            nl.Dispose();
            Libc.SysClose(nsfd);
            throw;
        }
    }

    private static string NextName()
    {
        // "tp" + pid (≤ 7 hex digits: pid_max ≤ 2^22) + a 6-digit sequence: ≤ 15 bytes, unique per process and pool.
        int n = Interlocked.Increment(ref sequence) & 0xFFFFFF;
        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{PoolPrefix}{Environment.ProcessId:x}{n:x6}");
    }

    private void Refill()
    {
        while (!disposed)
        {
            wake.WaitOne();
            try
            {
                Fill();
                LastRefillError = null;
            }
            catch (Exception ex)
            {
                LastRefillError = ex;
                wake.WaitOne(1000); // do not spin on a persistent failure (e.g. out of memory, rtnl refusing)
            }
        }
    }

    /// <summary>Stops the refill and deletes every pooled namespace and veth pair at once.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        wake.Set();
        refiller?.Join();
        lock (fillGate)
            lock (gate)
                while (entries.TryPop(out var e))
                {
                    poolHost.TryDeleteLink(e.HostIndex);
                    e.Dispose();
                }
        poolHost.Dispose();
        wake.Dispose();
    }

    /// <summary>Test hook: forgets every pooled entry by closing its descriptors only, as the kernel does when the
    /// process dies (no netlink delete), so tests can watch the kernel clean up on its own.</summary>
    internal void AbandonForTest()
    {
        lock (fillGate)
            lock (gate)
                while (entries.TryPop(out var e)) e.Dispose();
    }

    private sealed class Entry(int nsFd, Rtnetlink netlink, int hostIndex, int eth0) : IDisposable
    {
        public int NsFd { get; } = nsFd;
        public Rtnetlink Netlink { get; } = netlink;
        public int HostIndex { get; } = hostIndex;
        public int Eth0 { get; } = eth0;

        public void Dispose()
        {
            Netlink.Dispose();
            Libc.SysClose(NsFd);
        }
    }
}
