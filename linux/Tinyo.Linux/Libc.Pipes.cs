using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// Pipes for the processes the runtime starts itself (OCI hooks): pipe2 and the non-blocking flag.
internal static unsafe partial class Libc
{
    public const int F_GETFL = 3, F_SETFL = 4;
    public const short POLLOUT = 4, POLLERR = 8;

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    public static partial int SysPipe2(int* fds, int flags);
}
