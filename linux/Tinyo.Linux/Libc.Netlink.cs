using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// rtnetlink: the NETLINK_ROUTE socket that configures links, addresses and routes (no `ip` process).
internal static unsafe partial class Libc
{
    public const int AF_NETLINK = 16, NETLINK_ROUTE = 0, SOCK_RAW = 3, SOL_NETLINK = 270;
    public const int NETLINK_CAP_ACK = 10, NETLINK_EXT_ACK = 11, NETLINK_GET_STRICT_CHK = 12;

    /// <summary>struct sockaddr_nl (12 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SockaddrNl
    {
        public ushort Family;
        public ushort Pad;
        public uint Pid;
        public uint Groups;
    }

    /// <summary>struct timeval, for SO_RCVTIMEO.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TimeVal
    {
        public long Sec;
        public long Usec;
    }

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static partial nint SysSend(int fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static partial nint SysRecv(int fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    public static partial int SysGetsockname(int fd, void* addr, uint* len);
}
