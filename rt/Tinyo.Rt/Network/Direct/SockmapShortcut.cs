using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Tinyo.Linux;

namespace Tinyo.Rt.Network.Direct;

/// <summary>
/// The transparent TCP shortcut of one cluster on this node (the kernel's sockmap, as Cilium's socket acceleration):
/// a sockhash of the cluster's established sockets, filled by <see cref="SockOpsProgram"/> attached to the cluster's
/// cgroup v2 directory, and <see cref="SkMsgProgram"/> on the map moving each send straight to the peer socket's
/// receive queue. Apps change nothing; connections by name or address both qualify, since the kernel matches sockets.
/// Disposing detaches both programs, takes every socket out of the map and closes every descriptor: the kernel then
/// frees programs and maps (see <see cref="Dispose"/> for connections still open).
/// </summary>
/// <remarks>
/// <para>One sockhash per cluster keeps clusters apart: a socket is only ever redirected to a socket of the same map,
/// and only the cluster's cgroup puts sockets there.</para>
/// <para>The cgroup must be a cgroup v2 directory (on a hybrid host, under the unified mount); the processes must be
/// in it (or below it) when they create their sockets — a socket belongs to the cgroup of its creator.</para>
/// </remarks>
public sealed class SockmapShortcut : IDisposable
{
    private int sockhash, counters, sockOps, skMsg;

    private SockmapShortcut(string cgroupDir, int sockhash, int counters, int sockOps, int skMsg)
    {
        CgroupDir = cgroupDir;
        this.sockhash = sockhash;
        this.counters = counters;
        this.sockOps = sockOps;
        this.skMsg = skMsg;
        SockOpsId = Libc.BpfProgId(sockOps);
        SkMsgId = Libc.BpfProgId(skMsg);
        SockhashId = BpfObjects.MapId(sockhash);
        CountersId = BpfObjects.MapId(counters);
    }

    /// <summary>The cluster's cgroup v2 directory the sock_ops program is attached to.</summary>
    public string CgroupDir { get; }

    /// <summary>Kernel ids of the two programs and two maps (to prove they are gone after <see cref="Dispose"/>).</summary>
    public uint SockOpsId { get; }

    /// <inheritdoc cref="SockOpsId"/>
    public uint SkMsgId { get; }

    /// <inheritdoc cref="SockOpsId"/>
    public uint SockhashId { get; }

    /// <inheritdoc cref="SockOpsId"/>
    public uint CountersId { get; }

    /// <summary>The most sockets one cluster's map holds on a node; past it new connections take the normal path.</summary>
    public const int MaxSockets = 65536;

    /// <summary>
    /// Sets the shortcut up for the cluster whose cgroup v2 directory is <paramref name="cgroupDir"/>, redirecting
    /// only between sockets whose peer is in <paramref name="subnet"/> (the cluster network; null: any IPv4 peer).
    /// Returns null when this kernel cannot (no sockmap, no sk_msg, no BPF permission, no cgroup v2 here), with why
    /// in <paramref name="fallbackReason"/>: the cluster then uses the normal path, nothing is left behind.
    /// </summary>
    /// <exception cref="RtException">The directory is missing or not cgroup v2 (a bug of the caller, not the kernel).</exception>
    public static SockmapShortcut? TryAttach(string cgroupDir, IPNetwork? subnet, out string? fallbackReason)
    {
        fallbackReason = null;
        if (subnet is { } n && n.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
            throw new RtException($"the socket shortcut handles IPv4 cluster networks, not {n}");
        if (!Directory.Exists(cgroupDir)) throw new RtException($"no cgroup directory {cgroupDir}");
        if (!File.Exists(Path.Combine(cgroupDir, "cgroup.controllers"))) // v1 directories have no such file
            throw new RtException($"{cgroupDir} is not a cgroup v2 directory");
        int hash = -1, count = -1, ops = -1, msg = -1, dir = -1;
        bool msgAttached = false;
        try
        {
            hash = Libc.BpfMapCreate(Libc.BPF_MAP_TYPE_SOCKHASH, ShortcutLayout.KeySize, 4, MaxSockets, "tinyo_socks");
            if (hash < 0) { fallbackReason = Reason("creating a sockhash map (BPF_MAP_CREATE)"); return null; }
            count = Libc.BpfMapCreate(Libc.BPF_MAP_TYPE_ARRAY, 4, ShortcutLayout.SlotSize, ShortcutLayout.Slots, "tinyo_counts");
            if (count < 0) { fallbackReason = Reason("creating the counter map (BPF_MAP_CREATE)"); return null; }
            msg = Libc.BpfProgLoad(Libc.BPF_PROG_TYPE_SK_MSG, SkMsgProgram.Build(hash, count), 0, out var log, SkMsgProgram.Name);
            if (msg < 0) { fallbackReason = Reason("loading the sk_msg program (BPF_PROG_LOAD)", log); return null; }
            ops = Libc.BpfProgLoad(Libc.BPF_PROG_TYPE_SOCK_OPS, SockOpsProgram.Build(hash, count, Mask(subnet)), 0, out log, SockOpsProgram.Name);
            if (ops < 0) { fallbackReason = Reason("loading the sock_ops program (BPF_PROG_LOAD)", log); return null; }
            // The verdict program first: a socket gets the map's programs when it enters the map.
            if (Libc.BpfMapAttach(hash, msg, Libc.BPF_SK_MSG_VERDICT) < 0) { fallbackReason = Reason("attaching sk_msg to the sockhash (BPF_PROG_ATTACH)"); return null; }
            msgAttached = true;
            dir = Libc.SysOpen(cgroupDir, Libc.OFlag.RdOnly | Libc.OFlag.Directory | Libc.OFlag.Cloexec, 0);
            if (dir < 0) throw Libc.Error("opening the cgroup", cgroupDir);
            if (Libc.BpfProgAttach(dir, ops, Libc.BPF_CGROUP_SOCK_OPS, Libc.BPF_F_ALLOW_MULTI) < 0)
            {
                fallbackReason = Reason($"attaching sock_ops to {cgroupDir} (BPF_PROG_ATTACH)");
                return null;
            }
            var s = new SockmapShortcut(cgroupDir, hash, count, ops, msg);
            hash = count = ops = msg = -1; // owned by s now
            return s;
        }
        finally
        {
            if (dir >= 0) Libc.SysClose(dir);
            if (msgAttached && hash >= 0) Libc.BpfProgDetach(hash, msg, Libc.BPF_SK_MSG_VERDICT);
            foreach (int fd in (ReadOnlySpan<int>)[ops, msg, count, hash]) if (fd >= 0) Libc.SysClose(fd);
        }
    }

    /// <summary>What the programs counted since <see cref="TryAttach"/>.</summary>
    public ShortcutCounters ReadCounters() => ReadCounters(counters);

    /// <summary>
    /// A shortcut another process made, seen through its maps' kernel ids (<see cref="SockhashId"/>,
    /// <see cref="CountersId"/>, e.g. from the node's log): how many sockets its map holds and what it counted.
    /// Null when either map is gone.
    /// </summary>
    public static (int Sockets, ShortcutCounters Counters)? Peek(uint sockhashId, uint countersId)
    {
        int hash = Libc.BpfMapGetFdById(sockhashId), count = Libc.BpfMapGetFdById(countersId);
        try
        {
            if (hash < 0 || count < 0) return null;
            return (Sockets(hash).Count, ReadCounters(count));
        }
        finally
        {
            if (hash >= 0) Libc.SysClose(hash);
            if (count >= 0) Libc.SysClose(count);
        }
    }

    private static ShortcutCounters ReadCounters(int counters)
    {
        Span<byte> sockets = stackalloc byte[ShortcutLayout.SlotSize], messages = stackalloc byte[ShortcutLayout.SlotSize];
        ReadSlot(counters, ShortcutLayout.SocketsSlot, sockets);
        ReadSlot(counters, ShortcutLayout.MessagesSlot, messages);
        return new ShortcutCounters(BinaryPrimitives.ReadUInt64LittleEndian(sockets), BinaryPrimitives.ReadUInt64LittleEndian(sockets[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(messages), BinaryPrimitives.ReadUInt64LittleEndian(messages[8..]));
    }

    private static void ReadSlot(int counters, int slot, Span<byte> value)
    {
        Span<byte> key = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(key, slot);
        if (Libc.BpfMapLookup(counters, key, value) < 0) throw Libc.Error("reading the shortcut's counters (BPF_MAP_LOOKUP_ELEM)");
    }

    /// <summary>The sockets in the map now (their own view: local and remote end), in no order.</summary>
    public List<(IPEndPoint Local, IPEndPoint Remote)> Sockets() => Sockets(sockhash);

    private static List<(IPEndPoint Local, IPEndPoint Remote)> Sockets(int sockhash)
    {
        var list = new List<(IPEndPoint, IPEndPoint)>();
        Span<byte> key = stackalloc byte[ShortcutLayout.KeySize], next = stackalloc byte[ShortcutLayout.KeySize];
        bool first = true;
        while (Libc.BpfMapNextKey(sockhash, first ? [] : key, next) == 0 && list.Count < MaxSockets)
        {
            list.Add(ShortcutKey.Parse(next));
            next.CopyTo(key);
            first = false;
        }
        return list;
    }

    /// <summary>
    /// Detaches both programs, empties the map and closes everything; idempotent. The kernel frees them once
    /// unreferenced.
    /// </summary>
    /// <remarks>
    /// Emptying the map is what lets the kernel free anything while connections are open: each socket in the map
    /// holds the sk_msg program, which holds the map. A connection still open then goes back to the normal TCP path,
    /// but bytes already redirected into its peer's queue and not yet read are dropped with the socket's hook, and a
    /// reader blocked in recv keeps the hook (so the programs and maps) until that call returns — so the node
    /// disposes a cluster's shortcut after its containers are gone (their sockets closed), not before.
    /// </remarks>
    public void Dispose()
    {
        if (sockOps >= 0)
        {
            int dir = Libc.SysOpen(CgroupDir, Libc.OFlag.RdOnly | Libc.OFlag.Directory | Libc.OFlag.Cloexec, 0);
            if (dir >= 0) // gone: the cgroup's removal detached it already
            {
                Libc.BpfProgDetach(dir, sockOps, Libc.BPF_CGROUP_SOCK_OPS);
                Libc.SysClose(dir);
            }
            Libc.SysClose(sockOps);
            sockOps = -1;
        }
        if (skMsg >= 0)
        {
            Libc.BpfProgDetach(sockhash, skMsg, Libc.BPF_SK_MSG_VERDICT);
            Span<byte> key = stackalloc byte[ShortcutLayout.KeySize];
            for (int guard = 0; guard < MaxSockets && Libc.BpfMapNextKey(sockhash, [], key) == 0; guard++)
                Libc.BpfMapDelete(sockhash, key);
            Libc.SysClose(skMsg);
            skMsg = -1;
        }
        if (counters >= 0) Libc.SysClose(counters);
        if (sockhash >= 0) Libc.SysClose(sockhash);
        counters = sockhash = -1;
    }

    /// <summary>The cluster subnet as the program compares it: the address bytes read as the kernel's u32 is.</summary>
    private static (uint, uint)? Mask(IPNetwork? subnet)
    {
        if (subnet is not { } n) return null;
        Span<byte> b = stackalloc byte[4];
        n.BaseAddress.TryWriteBytes(b, out _);
        uint mask = n.PrefixLength == 0 ? 0 : uint.MaxValue << (32 - n.PrefixLength);
        uint net = BinaryPrimitives.ReadUInt32BigEndian(b) & mask;
        return (BinaryPrimitives.ReverseEndianness(net), BinaryPrimitives.ReverseEndianness(mask));
    }

    private static string Reason(string what, string? log = null)
    {
        int errno = Libc.Errno;
        var why = $"{what}: {Libc.Describe(errno)}";
        if (errno == 1 /* EPERM */) why += " (needs CAP_BPF and CAP_NET_ADMIN)";
        if (errno is 22 or 524 /* EINVAL, ENOTSUPP */) why += " (this kernel lacks sockmap or sk_msg support)";
        return log is { Length: > 0 } ? $"{why}; the verifier said: {log}" : why;
    }
}

/// <summary>What a cluster's shortcut counted: sockets put in the map (and refused: map full), messages and bytes
/// moved socket to socket.</summary>
public readonly record struct ShortcutCounters(ulong Sockets, ulong SocketsRefused, ulong Redirected, ulong RedirectedBytes);
