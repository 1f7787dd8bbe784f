using System.Runtime.InteropServices;
using Tinyo.Linux;

namespace Tinyo.Rt;

/// <summary>
/// A failed libc call as the runtime reports it: an <see cref="RtException"/> naming what was attempted, on what, and
/// strerror. <c>Libc</c> lives in the Tinyo.Linux leaf, which knows no runtime types, so the runtime adds this to it
/// as an extension: <c>Libc.Error(…)</c>, or <c>Error(…)</c> through the project's global <c>using static</c>.
/// </summary>
internal static class LibcErrors
{
    extension(Libc)
    {
        /// <summary>Builds an <see cref="RtException"/> for a failed call: what was attempted, on what, and strerror.</summary>
        public static RtException Error(string what, string? path = null, int errno = -1)
        {
            if (errno < 0) errno = Libc.Errno;
            var msg = Marshal.GetPInvokeErrorMessage(errno);
            return new RtException(path is null ? $"{what}: {msg}" : $"{what} {path}: {msg}");
        }
    }
}
