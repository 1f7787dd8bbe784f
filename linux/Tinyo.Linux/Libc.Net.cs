using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// Networking inside a fresh network namespace: bringing the loopback interface up.
internal static unsafe partial class Libc
{
    public const ulong SIOCGIFFLAGS = 0x8913, SIOCSIFFLAGS = 0x8914;
    public const short IFF_UP = 1;

    /// <summary>struct ifreq, only the name and flags members used (40 bytes on 64-bit).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 40)]
    public struct IfReq
    {
        [FieldOffset(0)] public fixed byte Name[16];
        [FieldOffset(16)] public short Flags;
    }
}
