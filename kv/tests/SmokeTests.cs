namespace Tinyo.Kv.Tests;

public class SmokeTests
{
    [Fact]
    public void ErrorTypeCarriesMessage()
    {
        var e = new Tinyo.Kv.KvException("boom");
        Assert.Equal("boom", e.Message);
    }
}
