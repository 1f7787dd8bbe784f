using System.Buffers.Binary;
using System.Text;
using Tinyo.Linux;

namespace Tinyo.Rt.Network.Direct;

/// <summary>
/// The kernel's loaded BPF programs and maps, walked by id (BPF_PROG_GET_NEXT_ID / BPF_MAP_GET_NEXT_ID +
/// BPF_OBJ_GET_INFO_BY_FD) the way bpftool does: what proves that removing a cluster left nothing behind, and what
/// finds objects a crashed node left (by their <c>tinyo_</c> names).
/// </summary>
public static class BpfObjects
{
    /// <summary>One loaded program or map: kernel id, type (enum bpf_prog_type or bpf_map_type), name.</summary>
    public readonly record struct Entry(uint Id, uint Type, string Name);

    /// <summary>Every loaded program (<paramref name="maps"/> false) or map (true) this process may see.</summary>
    public static List<Entry> List(bool maps)
    {
        var list = new List<Entry>();
        Span<byte> info = stackalloc byte[maps ? 40 : 80];
        for (uint id = Libc.BpfNextId(maps, 0); id != 0; id = Libc.BpfNextId(maps, id))
        {
            int fd = maps ? Libc.BpfMapGetFdById(id) : Libc.BpfProgGetFdById(id);
            if (fd < 0) continue; // freed between the two calls
            try
            {
                info.Clear();
                if (Libc.BpfObjInfo(fd, info) < 0) continue;
                // bpf_map_info: { type; id; key_size; value_size; max_entries; map_flags; name[16] @24 }
                // bpf_prog_info: { type; id; tag[8]; jited_prog_len; …; name[16] @64 }
                uint type = BinaryPrimitives.ReadUInt32LittleEndian(info);
                var name = info.Slice(maps ? 24 : 64, 16);
                int end = name.IndexOf((byte)0);
                list.Add(new Entry(id, type, Encoding.ASCII.GetString(end < 0 ? name : name[..end])));
            }
            finally { Libc.SysClose(fd); }
        }
        return list;
    }

    /// <summary>Whether the program (<paramref name="map"/> false) or map <paramref name="id"/> is still loaded.</summary>
    public static bool Exists(uint id, bool map)
    {
        int fd = map ? Libc.BpfMapGetFdById(id) : Libc.BpfProgGetFdById(id);
        if (fd < 0) return false;
        Libc.SysClose(fd);
        return true;
    }

    /// <summary>The ids of the programs attached to the cgroup v2 directory <paramref name="cgroupDir"/> at the
    /// sock_ops hook (BPF_PROG_QUERY; empty when none or the directory is gone).</summary>
    public static uint[] SockOpsAttached(string cgroupDir)
    {
        int dir = Libc.SysOpen(cgroupDir, Libc.OFlag.RdOnly | Libc.OFlag.Directory | Libc.OFlag.Cloexec, 0);
        if (dir < 0) return [];
        try { return Libc.BpfProgQuery(dir, Libc.BPF_CGROUP_SOCK_OPS) ?? []; }
        finally { Libc.SysClose(dir); }
    }

    /// <summary>The kernel id of the map behind <paramref name="fd"/>, or 0.</summary>
    internal static uint MapId(int fd)
    {
        Span<byte> info = stackalloc byte[8];
        return Libc.BpfObjInfo(fd, info) < 0 ? 0 : BinaryPrimitives.ReadUInt32LittleEndian(info[4..]);
    }
}
