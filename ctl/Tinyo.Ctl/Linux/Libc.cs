using System.Runtime.InteropServices;

namespace Tinyo.Ctl.Linux;

/// <summary>The few libc calls the CLI and the node need.</summary>
internal static unsafe partial class Libc
{
    [LibraryImport("libc", SetLastError = true)]
    private static partial nint getrandom(byte* buf, nuint len, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    internal static partial int kill(int pid, int sig);

    internal const int SIGTERM = 15, SIGKILL = 9;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buf);

    /// <summary>The message of an errno (EACCES → "Permission denied").</summary>
    internal static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    private const int AT_FDCWD = -100;
    private const uint STATX_TYPE = 1;

    /// <summary>
    /// The file type bits (S_IFMT) of <paramref name="path"/>, symlinks followed, or -1 with the errno when it
    /// cannot be examined. statx: its layout is the same on every architecture (stx_mode is the u16 at offset 28).
    /// </summary>
    internal static int FileType(string path, out int errno)
    {
        var buf = stackalloc byte[256];
        if (statx(AT_FDCWD, path, 0, STATX_TYPE, buf) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return -1;
        }
        errno = 0;
        return *(ushort*)(buf + 28) & 0xF000;
    }

    /// <summary>
    /// Fills <paramref name="buf"/> from the kernel's CSPRNG. RandomNumberGenerator is avoided on purpose: in this
    /// repository's static NativeAOT binaries many calls to it crash (see kv/README.md; reproduced here).
    /// </summary>
    internal static void Random(Span<byte> buf)
    {
        fixed (byte* p = buf)
        {
            var done = 0;
            while (done < buf.Length)
            {
                var n = getrandom(p + done, (nuint)(buf.Length - done), 0);
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == 4) continue; // EINTR
                    throw new CtlException($"getrandom: {Marshal.GetLastPInvokeErrorMessage()}");
                }
                done += (int)n;
            }
        }
    }

    /// <summary>Random bytes from the kernel.</summary>
    internal static byte[] Random(int n)
    {
        var b = new byte[n];
        Random(b);
        return b;
    }
}
