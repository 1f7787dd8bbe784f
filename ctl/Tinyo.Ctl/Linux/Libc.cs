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
