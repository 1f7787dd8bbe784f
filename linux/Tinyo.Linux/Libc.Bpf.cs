using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// bpf(2): loading a program, attaching it to a cgroup, and the queries that show what a cgroup has attached. Used for
// the cgroup v2 device filter (BPF_PROG_TYPE_CGROUP_DEVICE); glibc has no wrapper, so this is the raw syscall.
internal static unsafe partial class Libc
{
    /// <summary>bpf(2) on x86-64.</summary>
    public const long SYS_bpf = 321;

    /// <summary>bpf(2) commands (enum bpf_cmd).</summary>
    public const int BPF_PROG_LOAD = 5, BPF_PROG_ATTACH = 8, BPF_PROG_DETACH = 9, BPF_PROG_GET_FD_BY_ID = 13,
        BPF_OBJ_GET_INFO_BY_FD = 15, BPF_PROG_QUERY = 16;
    /// <summary>enum bpf_prog_type: a program that decides device access for a cgroup's tasks.</summary>
    public const uint BPF_PROG_TYPE_CGROUP_DEVICE = 15;
    /// <summary>enum bpf_attach_type: the device hook of a cgroup.</summary>
    public const uint BPF_CGROUP_DEVICE = 6;
    /// <summary>Attach flags: several programs per cgroup and hook (all must allow), atomic replacement of one.</summary>
    public const uint BPF_F_ALLOW_MULTI = 2, BPF_F_REPLACE = 4;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall_bpf(long nr, int cmd, void* attr, uint size);

    /// <summary>The BPF_PROG_LOAD part of union bpf_attr (up to <c>expected_attach_type</c>).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 72)]
    private struct ProgLoadAttr
    {
        [FieldOffset(0)] public uint ProgType;
        [FieldOffset(4)] public uint InsnCnt;
        [FieldOffset(8)] public ulong Insns;
        [FieldOffset(16)] public ulong License;
        [FieldOffset(24)] public uint LogLevel;
        [FieldOffset(28)] public uint LogSize;
        [FieldOffset(32)] public ulong LogBuf;
        [FieldOffset(48)] public fixed byte Name[16];
        [FieldOffset(68)] public uint ExpectedAttachType;
    }

    /// <summary>The BPF_PROG_ATTACH/DETACH part of union bpf_attr.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 20)]
    private struct ProgAttachAttr
    {
        [FieldOffset(0)] public uint TargetFd;
        [FieldOffset(4)] public uint AttachBpfFd;
        [FieldOffset(8)] public uint AttachType;
        [FieldOffset(12)] public uint AttachFlags;
        [FieldOffset(16)] public uint ReplaceBpfFd;
    }

    /// <summary>The BPF_PROG_QUERY part of union bpf_attr.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 32)]
    private struct ProgQueryAttr
    {
        [FieldOffset(0)] public uint TargetFd;
        [FieldOffset(4)] public uint AttachType;
        [FieldOffset(8)] public uint QueryFlags;
        [FieldOffset(12)] public uint AttachFlags;
        [FieldOffset(16)] public ulong ProgIds;
        [FieldOffset(24)] public uint ProgCnt;
    }

    /// <summary>
    /// BPF_PROG_LOAD: verifies and loads <paramref name="insns"/> (8-byte eBPF instructions). Returns the program's
    /// descriptor, or -1 with errno set and, when the verifier refused it, its log in <paramref name="verifierLog"/>.
    /// <paramref name="name"/> (at most 15 of [A-Za-z0-9_.]) is what BPF_OBJ_GET_INFO shows, to find it again.
    /// </summary>
    public static int BpfProgLoad(uint progType, ReadOnlySpan<byte> insns, uint expectedAttachType, out string? verifierLog, string? name = null)
    {
        verifierLog = null;
        var license = "Apache-2.0\0"u8;
        fixed (byte* code = insns)
        fixed (byte* lic = license)
        {
            var attr = new ProgLoadAttr
            {
                ProgType = progType, InsnCnt = (uint)(insns.Length / 8), Insns = (ulong)code, License = (ulong)lic,
                ExpectedAttachType = expectedAttachType,
            };
            for (int i = 0; name is not null && i < name.Length && i < 15; i++) attr.Name[i] = (byte)name[i];
            // First without a log (the verifier is faster without one); only a refusal is loaded again to explain it.
            int fd = (int)syscall_bpf(SYS_bpf, BPF_PROG_LOAD, &attr, (uint)sizeof(ProgLoadAttr));
            if (fd >= 0) return fd;
            int errno = Errno;
            if (errno is not (13 /* EACCES */ or 22 /* EINVAL */)) return -1;
            var log = new byte[64 * 1024];
            fixed (byte* l = log)
            {
                attr.LogLevel = 1;
                attr.LogSize = (uint)log.Length;
                attr.LogBuf = (ulong)l;
                fd = (int)syscall_bpf(SYS_bpf, BPF_PROG_LOAD, &attr, (uint)sizeof(ProgLoadAttr));
                if (fd >= 0) return fd; // not expected: the same program loaded the second time
                errno = Errno;
            }
            int end = Array.IndexOf(log, (byte)0);
            verifierLog = System.Text.Encoding.UTF8.GetString(log, 0, end < 0 ? log.Length : end).Trim();
            Marshal.SetLastPInvokeError(errno);
            return -1;
        }
    }

    /// <summary>BPF_PROG_ATTACH of <paramref name="progFd"/> to the cgroup directory <paramref name="cgroupFd"/>.</summary>
    public static int BpfProgAttach(int cgroupFd, int progFd, uint attachType, uint flags, int replaceFd = 0)
    {
        var attr = new ProgAttachAttr
        {
            TargetFd = (uint)cgroupFd, AttachBpfFd = (uint)progFd, AttachType = attachType, AttachFlags = flags,
            ReplaceBpfFd = (uint)replaceFd,
        };
        return (int)syscall_bpf(SYS_bpf, BPF_PROG_ATTACH, &attr, (uint)sizeof(ProgAttachAttr));
    }

    /// <summary>BPF_PROG_DETACH of <paramref name="progFd"/> from the cgroup directory <paramref name="cgroupFd"/>.</summary>
    public static int BpfProgDetach(int cgroupFd, int progFd, uint attachType)
    {
        var attr = new ProgAttachAttr { TargetFd = (uint)cgroupFd, AttachBpfFd = (uint)progFd, AttachType = attachType };
        return (int)syscall_bpf(SYS_bpf, BPF_PROG_DETACH, &attr, (uint)sizeof(ProgAttachAttr));
    }

    /// <summary>
    /// BPF_PROG_QUERY: the ids of the programs attached to the cgroup <paramref name="cgroupFd"/> itself (not its
    /// ancestors') at <paramref name="attachType"/>, or null with errno set.
    /// </summary>
    public static uint[]? BpfProgQuery(int cgroupFd, uint attachType)
    {
        Span<uint> ids = stackalloc uint[64];
        fixed (uint* p = ids)
        {
            var attr = new ProgQueryAttr { TargetFd = (uint)cgroupFd, AttachType = attachType, ProgIds = (ulong)p, ProgCnt = (uint)ids.Length };
            if (syscall_bpf(SYS_bpf, BPF_PROG_QUERY, &attr, (uint)sizeof(ProgQueryAttr)) < 0) return null;
            return ids[..(int)Math.Min(attr.ProgCnt, (uint)ids.Length)].ToArray();
        }
    }

    /// <summary>BPF_PROG_GET_FD_BY_ID: a descriptor of the loaded program <paramref name="id"/>, or -1 (ENOENT: it is gone).</summary>
    public static int BpfProgGetFdById(uint id)
    {
        // union bpf_attr for GET_FD_BY_ID: { __u32 prog_id; __u32 next_id; __u32 open_flags; }
        uint* attr = stackalloc uint[3] { id, 0, 0 };
        return (int)syscall_bpf(SYS_bpf, BPF_PROG_GET_FD_BY_ID, attr, 12);
    }

    /// <summary>BPF_OBJ_GET_INFO_BY_FD: the id of the program behind <paramref name="progFd"/>, or 0.</summary>
    public static uint BpfProgId(int progFd)
    {
        // struct bpf_prog_info starts { __u32 type; __u32 id; ... }: the kernel fills min(info_len, its size).
        uint* info = stackalloc uint[2] { 0, 0 };
        // union bpf_attr for GET_INFO_BY_FD: { __u32 bpf_fd; __u32 info_len; __aligned_u64 info; }
        ulong* attr = stackalloc ulong[2];
        ((uint*)attr)[0] = (uint)progFd;
        ((uint*)attr)[1] = 8;
        attr[1] = (ulong)info;
        return syscall_bpf(SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, attr, 16) < 0 ? 0 : info[1];
    }
}
