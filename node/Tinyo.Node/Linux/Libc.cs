using System.Runtime.InteropServices;

namespace Tinyo.Node.Linux;

/// <summary>The libc calls of the node daemon.</summary>
internal static partial class Libc
{
    [LibraryImport("libc", EntryPoint = "umask")]
    internal static partial uint Umask(uint mask);
}
