using System.Net.Sockets;
using Tinyo.Linux;
using Tinyo.Rt.Network.Netlink;

namespace Tinyo.Rt.Network;

/// <summary>
/// A persistent network namespace without a process, as CNI and <c>ip netns</c> keep them: made by
/// <c>unshare(CLONE_NEWNET)</c> on <see cref="NetnsThread"/> and pinned by a bind mount of
/// <c>/proc/thread-self/ns/net</c> onto a file (e.g. <c>ROOT/netns/ID</c>). A container joins it by path
/// (<c>linux.namespaces[{type: network, path}]</c>). This object holds an fd of the namespace and a netlink socket
/// inside it; disposing closes them, <see cref="Remove"/> unmounts and deletes the file (the namespace itself goes
/// when nothing else holds it: its last process, fd or mount).
/// </summary>
/// <remarks>
/// The bind mount is a plain one in the node's mount namespace. Containers do not pin other replicas' namespaces
/// through their copy of the mount table: their mount namespace starts as a copy of the host's, but pivot_root then
/// detaches the old root with every mount under it.
/// </remarks>
public sealed class NetworkNamespace : IDisposable
{
    private int fd;

    private NetworkNamespace(string path, int fd, Rtnetlink netlink)
    {
        Path = path;
        this.fd = fd;
        Netlink = netlink;
    }

    /// <summary>The file the namespace is mounted on.</summary>
    public string Path { get; }

    /// <summary>An open descriptor of the namespace (for setns, IFLA_NET_NS_FD).</summary>
    public int Fd => fd;

    /// <summary>rtnetlink inside the namespace.</summary>
    public Rtnetlink Netlink { get; }

    /// <summary>
    /// Creates a new network namespace mounted on <paramref name="path"/> (a new file; its directory must exist). On
    /// failure nothing is left: no file, no mount.
    /// </summary>
    public static unsafe NetworkNamespace Create(string path)
    {
        int f = Libc.SysOpen(path, Libc.OFlag.RdOnly | Libc.OFlag.Creat | Libc.OFlag.Excl | Libc.OFlag.Cloexec, 0);
        if (f < 0) throw Libc.Error("creating network namespace file", path);
        Libc.SysClose(f);
        bool mounted = false;
        int nsfd = -1;
        NetlinkSocket? sock = null;
        try
        {
            NetnsThread.RunInNew(() =>
            {
                if (Libc.Mount("/proc/thread-self/ns/net", path, null, Libc.MS_BIND, null) != 0)
                    throw Libc.Error("mounting the network namespace on", path);
                mounted = true;
                nsfd = Libc.SysOpen("/proc/thread-self/ns/net", Libc.OFlag.RdOnly | Libc.OFlag.Cloexec, 0);
                if (nsfd < 0) throw Libc.Error("opening the new network namespace");
                sock = NetlinkSocket.Open();
                return 0;
            });
            return new NetworkNamespace(path, nsfd, Rtnetlink.Wrap(sock!));
        }
        catch
        {
            sock?.Dispose();
            if (nsfd >= 0) Libc.SysClose(nsfd);
            if (mounted) Libc.Umount2(path, Libc.MNT_DETACH);
            Libc.SysUnlink(path);
            throw;
        }
    }

    /// <summary>Opens the namespace mounted on (or the <c>/proc/PID/ns/net</c> link at) <paramref name="path"/>.</summary>
    public static NetworkNamespace Open(string path)
    {
        int nsfd = Libc.SysOpen(path, Libc.OFlag.RdOnly | Libc.OFlag.Cloexec, 0);
        if (nsfd < 0) throw Libc.Error("opening network namespace", path);
        try
        {
            var sock = NetnsThread.RunIn(nsfd, NetlinkSocket.Open);
            return new NetworkNamespace(path, nsfd, Rtnetlink.Wrap(sock));
        }
        catch
        {
            Libc.SysClose(nsfd);
            throw;
        }
    }

    /// <summary>Unmounts and deletes a namespace file made by <see cref="Create"/>; false when there was none.</summary>
    public static bool Remove(string path)
    {
        bool unmounted = Libc.Umount2(path, Libc.MNT_DETACH) == 0;
        int err = unmounted ? 0 : Libc.Errno;
        if (Libc.SysUnlink(path) != 0)
        {
            if (Libc.Errno == Libc.Errno_.ENOENT) return unmounted;
            throw Libc.Error("removing network namespace file", path);
        }
        _ = err; // EINVAL: not mounted (a file left by a crash between create and mount) — deleted all the same
        return true;
    }

    /// <summary>A socket created inside this namespace (a DNS responder's, a probe's); used from any thread.</summary>
    public Socket CreateSocket(AddressFamily family, SocketType type, ProtocolType protocol) =>
        NetnsThread.RunIn(fd, () => new Socket(family, type, protocol));

    /// <summary>Writes a sysctl of this namespace (<c>net.ipv4.ip_forward</c> → /proc/sys/net/ipv4/ip_forward):
    /// /proc/sys/net shows the namespace of the thread that opens the file.</summary>
    public void WriteSysctl(string name, string value)
    {
        if (!name.StartsWith("net.", StringComparison.Ordinal) || name.Contains("..", StringComparison.Ordinal) || name.Contains('/'))
            throw new RtException($"not a network sysctl: {name}");
        var file = "/proc/sys/" + name.Replace('.', '/');
        NetnsThread.RunIn(fd, () =>
        {
            File.WriteAllText(file, value);
            return 0;
        });
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Netlink.Dispose();
        if (fd >= 0) Libc.SysClose(fd);
        fd = -1;
    }
}
