namespace Tinyo.Node.Tests;

public class SmokeTests
{
    [Fact]
    public void ErrorTypeCarriesMessage()
    {
        var e = new Tinyo.Node.NodeException("boom");
        Assert.Equal("boom", e.Message);
    }
}
