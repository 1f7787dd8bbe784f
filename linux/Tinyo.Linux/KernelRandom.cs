using System.Runtime.InteropServices;

namespace Tinyo.Linux;

/// <summary>
/// Random bytes from the kernel's CSPRNG (getrandom(2)). RandomNumberGenerator is avoided on purpose: in this
/// repository's static NativeAOT binaries many calls to it crashed (see kv/README.md; reproduced).
/// </summary>
public static class KernelRandom
{
    /// <summary>Fills the span.</summary>
    public static unsafe void Fill(Span<byte> buf)
    {
        fixed (byte* p = buf)
        {
            var done = 0;
            while (done < buf.Length)
            {
                var n = Libc.GetRandom(p + done, (nuint)(buf.Length - done), 0);
                if (n < 0)
                {
                    if (Marshal.GetLastPInvokeError() == 4) continue; // EINTR
                    throw new IOException($"getrandom: {Marshal.GetLastPInvokeErrorMessage()}");
                }
                done += (int)n;
            }
        }
    }

    /// <summary>New random bytes.</summary>
    public static byte[] Bytes(int n)
    {
        var b = new byte[n];
        Fill(b);
        return b;
    }
}
