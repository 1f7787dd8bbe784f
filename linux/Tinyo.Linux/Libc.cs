using System.Runtime.InteropServices;

namespace Tinyo.Linux;

/// <summary>
/// The one place where Tinyo talks to libc. Every P/Invoke is a <c>LibraryImport</c> on this partial class, split by
/// concern into files of this folder (<c>Libc.Files.cs</c>, <c>Libc.Process.cs</c>, …). Binaries link libc directly
/// (<c>DirectPInvoke</c>), so these calls cost what a C call costs.
/// </summary>
internal static unsafe partial class Libc
{
    /// <summary>The errno of the last failed call made through a <c>SetLastError = true</c> import.</summary>
    public static int Errno => Marshal.GetLastPInvokeError();

    /// <summary>strerror text for <paramref name="errno"/>.</summary>
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
