namespace Tinyo.Ctl;

/// <summary>Random bytes from the kernel's CSPRNG (getrandom(2)); see <c>Linux/Libc.cs</c> for why not RandomNumberGenerator.</summary>
public static class KernelRandom
{
    /// <summary>Fills the span.</summary>
    public static void Fill(Span<byte> buf) => Linux.Libc.Random(buf);

    /// <summary>New random bytes.</summary>
    public static byte[] Bytes(int n) => Linux.Libc.Random(n);
}
