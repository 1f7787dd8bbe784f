using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// bpf(2) for the direct network's socket shortcut: maps (a sockhash of a cluster's TCP sockets, a counter array),
// attaching a program to a map (sk_msg), and walking the kernel's programs and maps by id (what tests use to prove
// nothing is left, without bpftool).
internal static unsafe partial class Libc
{
    /// <summary>More bpf(2) commands (enum bpf_cmd).</summary>
    public const int BPF_MAP_CREATE = 0, BPF_MAP_LOOKUP_ELEM = 1, BPF_MAP_UPDATE_ELEM = 2, BPF_MAP_DELETE_ELEM = 3, BPF_MAP_GET_NEXT_KEY = 4,
        BPF_PROG_GET_NEXT_ID = 11, BPF_MAP_GET_NEXT_ID = 12, BPF_MAP_GET_FD_BY_ID = 14;
    /// <summary>enum bpf_prog_type: TCP socket events of a cgroup; messages sent on sockets of a sockmap.</summary>
    public const uint BPF_PROG_TYPE_SOCK_OPS = 13, BPF_PROG_TYPE_SK_MSG = 16;
    /// <summary>enum bpf_attach_type: a cgroup's sock_ops hook; the msg verdict hook of a sockmap/sockhash.</summary>
    public const uint BPF_CGROUP_SOCK_OPS = 3, BPF_SK_MSG_VERDICT = 7;
    /// <summary>enum bpf_map_type.</summary>
    public const uint BPF_MAP_TYPE_ARRAY = 2, BPF_MAP_TYPE_SOCKHASH = 18;

    /// <summary>The BPF_MAP_CREATE part of union bpf_attr (up to <c>map_name</c>).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 48)]
    private struct MapCreateAttr
    {
        [FieldOffset(0)] public uint MapType;
        [FieldOffset(4)] public uint KeySize;
        [FieldOffset(8)] public uint ValueSize;
        [FieldOffset(12)] public uint MaxEntries;
        [FieldOffset(16)] public uint MapFlags;
        [FieldOffset(28)] public fixed byte Name[16];
    }

    /// <summary>The element commands' part of union bpf_attr: { map_fd; key; value or next_key; flags }.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 32)]
    private struct MapElemAttr
    {
        [FieldOffset(0)] public uint MapFd;
        [FieldOffset(8)] public ulong Key;
        [FieldOffset(16)] public ulong Value;
        [FieldOffset(24)] public ulong Flags;
    }

    /// <summary>
    /// BPF_MAP_CREATE: a map of <paramref name="type"/> named <paramref name="name"/> (at most 15 of [A-Za-z0-9_.],
    /// shown by GET_INFO). Returns its descriptor, or -1 with errno set.
    /// </summary>
    public static int BpfMapCreate(uint type, uint keySize, uint valueSize, uint maxEntries, string name)
    {
        var attr = new MapCreateAttr { MapType = type, KeySize = keySize, ValueSize = valueSize, MaxEntries = maxEntries };
        for (int i = 0; i < name.Length && i < 15; i++) attr.Name[i] = (byte)name[i];
        return (int)syscall_bpf(SYS_bpf, BPF_MAP_CREATE, &attr, (uint)sizeof(MapCreateAttr));
    }

    /// <summary>BPF_MAP_LOOKUP_ELEM: copies the value at <paramref name="key"/> into <paramref name="value"/>; 0, or -1 (ENOENT: no such key).</summary>
    public static int BpfMapLookup(int mapFd, ReadOnlySpan<byte> key, Span<byte> value)
    {
        fixed (byte* k = key)
        fixed (byte* v = value)
        {
            var attr = new MapElemAttr { MapFd = (uint)mapFd, Key = (ulong)k, Value = (ulong)v };
            return (int)syscall_bpf(SYS_bpf, BPF_MAP_LOOKUP_ELEM, &attr, (uint)sizeof(MapElemAttr));
        }
    }

    /// <summary>BPF_MAP_DELETE_ELEM: removes <paramref name="key"/>; 0, or -1 (ENOENT: no such key).</summary>
    public static int BpfMapDelete(int mapFd, ReadOnlySpan<byte> key)
    {
        fixed (byte* k = key)
        {
            var attr = new MapElemAttr { MapFd = (uint)mapFd, Key = (ulong)k };
            return (int)syscall_bpf(SYS_bpf, BPF_MAP_DELETE_ELEM, &attr, (uint)sizeof(MapElemAttr));
        }
    }

    /// <summary>
    /// BPF_MAP_GET_NEXT_KEY: the key after <paramref name="key"/> (the first one when <paramref name="key"/> is empty)
    /// into <paramref name="next"/>; 0, or -1 (ENOENT: no more keys).
    /// </summary>
    public static int BpfMapNextKey(int mapFd, ReadOnlySpan<byte> key, Span<byte> next)
    {
        fixed (byte* k = key)
        fixed (byte* n = next)
        {
            var attr = new MapElemAttr { MapFd = (uint)mapFd, Key = key.IsEmpty ? 0 : (ulong)k, Value = (ulong)n };
            return (int)syscall_bpf(SYS_bpf, BPF_MAP_GET_NEXT_KEY, &attr, (uint)sizeof(MapElemAttr));
        }
    }

    /// <summary>
    /// BPF_PROG_ATTACH of <paramref name="progFd"/> to a map (<paramref name="mapFd"/>: a sockmap or sockhash) at
    /// <paramref name="attachType"/> — the same command as a cgroup attach, the map in place of the cgroup.
    /// </summary>
    public static int BpfMapAttach(int mapFd, int progFd, uint attachType) => BpfProgAttach(mapFd, progFd, attachType, 0);

    /// <summary>BPF_PROG_GET_NEXT_ID / BPF_MAP_GET_NEXT_ID: the next loaded program's (map's) id after <paramref name="id"/>, or 0 at the end.</summary>
    public static uint BpfNextId(bool maps, uint id)
    {
        // union bpf_attr for GET_NEXT_ID: { __u32 start_id; __u32 next_id; __u32 open_flags; }
        uint* attr = stackalloc uint[3] { id, 0, 0 };
        return syscall_bpf(SYS_bpf, maps ? BPF_MAP_GET_NEXT_ID : BPF_PROG_GET_NEXT_ID, attr, 12) < 0 ? 0 : attr[1];
    }

    /// <summary>BPF_MAP_GET_FD_BY_ID: a descriptor of the map <paramref name="id"/>, or -1 (ENOENT: it is gone).</summary>
    public static int BpfMapGetFdById(uint id)
    {
        uint* attr = stackalloc uint[3] { id, 0, 0 };
        return (int)syscall_bpf(SYS_bpf, BPF_MAP_GET_FD_BY_ID, attr, 12);
    }

    /// <summary>
    /// BPF_OBJ_GET_INFO_BY_FD into <paramref name="info"/> (struct bpf_prog_info or bpf_map_info; the kernel fills
    /// at most its length and zeroes nothing past it). Returns the bytes the kernel wrote, or -1 with errno set.
    /// </summary>
    public static int BpfObjInfo(int fd, Span<byte> info)
    {
        fixed (byte* p = info)
        {
            ulong* attr = stackalloc ulong[2];
            ((uint*)attr)[0] = (uint)fd;
            ((uint*)attr)[1] = (uint)info.Length;
            attr[1] = (ulong)p;
            if (syscall_bpf(SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, attr, 16) < 0) return -1;
            return (int)((uint*)attr)[1];
        }
    }
}
