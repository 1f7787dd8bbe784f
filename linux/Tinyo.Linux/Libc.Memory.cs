using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// Giving pages back (IdleTrim): madvise(2) on mapped images, posix_fadvise(2) on their files.
internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    public static partial int Madvise(nint addr, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    public static partial int Fadvise(int fd, long offset, long length, int advice);
}
