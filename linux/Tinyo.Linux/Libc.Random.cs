using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// The kernel's CSPRNG: getrandom(2), behind KernelRandom.
internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "getrandom", SetLastError = true)]
    public static partial nint GetRandom(byte* buf, nuint len, uint flags);
}
