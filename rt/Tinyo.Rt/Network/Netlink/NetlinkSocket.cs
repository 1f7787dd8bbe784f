using Tinyo.Rt.Network;

using Tinyo.Linux;

namespace Tinyo.Rt.Network.Netlink;

/// <summary>
/// A NETLINK_ROUTE socket. It belongs to the network namespace of the thread that created it, for its whole life
/// (<see cref="Network.NetnsThread"/> makes sockets inside other namespaces). Requests are sent in batches, each
/// message with NLM_F_ACK; the answers are read until every message is acknowledged, and the first error is thrown
/// naming its operation and errno. Not thread-safe: one request at a time (callers lock).
/// </summary>
internal sealed unsafe class NetlinkSocket : IDisposable
{
    private const int BufferSize = 32 * 1024;
    private readonly byte[] rx = GC.AllocateUninitializedArray<byte>(BufferSize, pinned: true);
    private int fd;
    private uint seq;

    private NetlinkSocket(int fd)
    {
        this.fd = fd;
        seq = (uint)Environment.TickCount;
    }

    /// <summary>Opens a socket in the calling thread's network namespace.</summary>
    public static NetlinkSocket Open()
    {
        int fd = Libc.SysSocket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, Libc.NETLINK_ROUTE);
        if (fd < 0) throw Libc.Error("netlink: socket");
        try
        {
            int one = 1;
            // Extended acks: the kernel says *what* it refused ("Unknown device type"); capped acks: errors do not
            // echo the whole request back.
            Libc.SysSetsockopt(fd, Libc.SOL_NETLINK, Libc.NETLINK_EXT_ACK, &one, 4);
            Libc.SysSetsockopt(fd, Libc.SOL_NETLINK, Libc.NETLINK_CAP_ACK, &one, 4);
            // The kernel answers rtnetlink requests synchronously; the timeout only guards against a bug of ours.
            var tv = new Libc.TimeVal { Sec = 10 };
            Libc.SysSetsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVTIMEO, &tv, (uint)sizeof(Libc.TimeVal));
            var sa = new Libc.SockaddrNl { Family = Libc.AF_NETLINK };
            if (Libc.SysBind(fd, &sa, (uint)sizeof(Libc.SockaddrNl)) != 0) throw Libc.Error("netlink: bind");
            return new NetlinkSocket(fd);
        }
        catch
        {
            Libc.SysClose(fd);
            throw;
        }
    }

    /// <summary>A writer whose sequence numbers continue this socket's.</summary>
    public NetlinkWriter NewBatch()
    {
        var w = new NetlinkWriter(seq);
        return w;
    }

    /// <summary>
    /// Sends every message of <paramref name="batch"/> and waits for all acknowledgements. The kernel processes every
    /// message of a batch even after one failed; the first failure (in batch order) is thrown.
    /// </summary>
    public void Execute(NetlinkWriter batch)
    {
        var ops = batch.Operations;
        if (ops.Count == 0) return;
        seq = ops[^1].Seq + 1;
        Send(batch.Bytes);
        int pending = ops.Count;
        (int Errno, string? Msg, string What)? first = null;
        int firstIndex = int.MaxValue;
        while (pending > 0)
        {
            var data = Receive();
            var msgs = new NetlinkMessages(data);
            while (msgs.Next(out var m))
            {
                if (m.Type != Rtnl.NLMSG_ERROR) continue; // notifications or echoes: not ours to read
                int i = IndexOf(ops, m.Seq);
                if (i < 0) continue; // a late answer to an earlier, failed batch
                pending--;
                var (errno, text) = NetlinkParse.Error(m.Payload, m.Flags);
                if (errno != 0 && i < firstIndex)
                {
                    firstIndex = i;
                    first = (errno, text, ops[i].What);
                }
            }
        }
        if (first is { } f) throw new NetlinkException(f.What, f.Errno, f.Msg);
    }

    /// <summary>
    /// Sends one dump request (its message written by <paramref name="write"/>) and hands every reply message of type
    /// <paramref name="rowType"/> to <paramref name="row"/>.
    /// </summary>
    public void Dump(ushort type, string what, Action<NetlinkWriter> write, ushort rowType, RowHandler row)
        => Exchange(type, Rtnl.NLM_F_DUMP, what, write, rowType, row, dump: true);

    /// <summary>
    /// Sends one request whose answer is a single message of type <paramref name="rowType"/> (a GET by name), hands it
    /// to <paramref name="row"/>; an error answer is thrown.
    /// </summary>
    public void Query(ushort type, string what, Action<NetlinkWriter> write, ushort rowType, RowHandler row)
        => Exchange(type, 0, what, write, rowType, row, dump: false);

    // One request, then its answers: a dump hands every row on until NLMSG_DONE (an ACK ends it too); a query hands on
    // the first row and returns. An error answer is thrown (a query's errno 0 would be no answer at all: EINVAL).
    private void Exchange(ushort type, ushort flags, string what, Action<NetlinkWriter> write, ushort rowType, RowHandler row, bool dump)
    {
        var w = new NetlinkWriter(seq++);
        w.Begin(type, flags, what);
        write(w);
        w.End();
        uint mySeq = w.Operations[0].Seq;
        Send(w.Bytes);
        while (true)
        {
            var data = Receive();
            var msgs = new NetlinkMessages(data);
            while (msgs.Next(out var m))
            {
                if (m.Seq != mySeq) continue;
                if (dump && m.Type == Rtnl.NLMSG_DONE) return;
                if (m.Type == Rtnl.NLMSG_ERROR)
                {
                    var (errno, text) = NetlinkParse.Error(m.Payload, m.Flags);
                    if (errno != 0) throw new NetlinkException(what, errno, text);
                    if (dump) return;
                    throw new NetlinkException(what, Libc.Errno_.EINVAL, text);
                }
                if (m.Type != rowType) continue;
                row(m.Payload);
                if (!dump) return;
            }
        }
    }

    /// <summary>Receives one row of a dump.</summary>
    public delegate void RowHandler(ReadOnlySpan<byte> payload);

    private void Send(ReadOnlySpan<byte> bytes)
    {
        fixed (byte* p = bytes)
        {
            nint n;
            do n = Libc.SysSend(fd, p, (nuint)bytes.Length, 0);
            while (n < 0 && Libc.Errno == Libc.Errno_.EINTR);
            if (n < 0) throw Libc.Error("netlink: send");
        }
    }

    private ReadOnlySpan<byte> Receive()
    {
        fixed (byte* p = rx)
        {
            nint n;
            do n = Libc.SysRecv(fd, p, BufferSize, 0);
            while (n < 0 && Libc.Errno == Libc.Errno_.EINTR);
            if (n < 0) throw Libc.Error("netlink: receive");
            return rx.AsSpan(0, (int)n);
        }
    }

    private static int IndexOf(IReadOnlyList<(uint Seq, string What)> ops, uint s)
    {
        // Sequence numbers of a batch are consecutive.
        long i = (long)s - ops[0].Seq;
        return i >= 0 && i < ops.Count ? (int)i : -1;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (fd >= 0) Libc.SysClose(fd);
        fd = -1;
    }
}
