using System.Runtime.InteropServices;

namespace Tinyo.Rt.Linux;

/// <summary>
/// The one place where Tinyo.Rt talks to libc. Every P/Invoke is a <c>LibraryImport</c> on this partial class, split by
/// concern into files of this folder (<c>Libc.Files.cs</c>, <c>Libc.Process.cs</c>, …). Binaries link libc directly
/// (<c>DirectPInvoke</c>), so these calls cost what a C call costs.
/// </summary>
internal static unsafe partial class Libc
{
    /// <summary>The errno of the last failed call made through a <c>SetLastError = true</c> import.</summary>
    public static int Errno => Marshal.GetLastPInvokeError();

    /// <summary>Builds an <see cref="RtException"/> for a failed call: what was attempted, on what, and strerror.</summary>
    public static RtException Error(string what, string? path = null, int errno = -1)
    {
        if (errno < 0) errno = Errno;
        var msg = Marshal.GetPInvokeErrorMessage(errno);
        return new RtException(path is null ? $"{what}: {msg}" : $"{what} {path}: {msg}");
    }
}
