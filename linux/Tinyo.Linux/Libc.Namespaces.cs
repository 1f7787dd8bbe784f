using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// Namespaces: unshare(2), setns(2), and the UTS namespace's names.
internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "unshare", SetLastError = true)]
    public static partial int Unshare(int flags);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    public static partial int Setns(int fd, int nstype);

    [LibraryImport("libc", EntryPoint = "sethostname", SetLastError = true)]
    public static partial int Sethostname(byte* name, nuint len);

    [LibraryImport("libc", EntryPoint = "setdomainname", SetLastError = true)]
    public static partial int Setdomainname(byte* name, nuint len);
}
