namespace Tinyo.Ctl.Tests;

public class SmokeTests
{
    [Fact]
    public void ErrorTypeCarriesMessage()
    {
        var e = new Tinyo.Ctl.CtlException("boom");
        Assert.Equal("boom", e.Message);
    }
}
