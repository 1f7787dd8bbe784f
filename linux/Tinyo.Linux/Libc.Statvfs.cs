using System.Runtime.InteropServices;

namespace Tinyo.Linux;

internal static partial class Libc
{
    /// <summary><c>struct statvfs</c> on 64-bit Linux (glibc).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct StatvfsBuf
    {
        public ulong Bsize, Frsize, Blocks, Bfree, Bavail, Files, Ffree, Favail, Fsid, Flag, Namemax;
        public ulong Spare0, Spare1, Spare2, Spare3, Spare4, Spare5;
    }

    /// <summary>statvfs(2): the filesystem's free blocks and inodes. 0, or -1 with errno set.</summary>
    [LibraryImport("libc", EntryPoint = "statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Statvfs(string path, out StatvfsBuf buf);
}
