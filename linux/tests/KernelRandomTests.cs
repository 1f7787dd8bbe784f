namespace Tinyo.Linux.Tests;

public class KernelRandomTests
{
    [Fact]
    public void KernelRandomIsRandom()
    {
        var a = KernelRandom.Bytes(32);
        Assert.NotEqual(a, KernelRandom.Bytes(32));
        Assert.Contains(a, b => b != 0);
    }
}
