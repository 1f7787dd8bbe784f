using Tinyo.Ctl.Client;

namespace Tinyo.Ctl.Tests;

public class ClientTests
{
    [Theory]
    [InlineData("/run/x.sock", "unix:/run/x.sock")]
    [InlineData("unix:/run/x.sock", "unix:/run/x.sock")]
    [InlineData("tcp://127.0.0.1:7070", "tcp://127.0.0.1:7070")]
    [InlineData("localhost:7070", "tcp://localhost:7070")]
    public void AddressesParse(string s, string canonical) => Assert.Equal(canonical, NodeAddress.Parse(s).ToString());

    [Theory]
    [InlineData("nonsense")]
    [InlineData("tcp://host:0")]
    [InlineData("tcp://host:99999")]
    public void BadAddressesAreRefused(string s) => Assert.Throws<CtlException>(() => NodeAddress.Parse(s));
}
