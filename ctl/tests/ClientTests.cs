using Tinyo.Api;
using Tinyo.Ctl.Client;

namespace Tinyo.Ctl.Tests;

public class ClientTests
{
    [Theory]
    [InlineData("/run/x.sock", "unix:/run/x.sock")]
    [InlineData("unix:/run/x.sock", "unix:/run/x.sock")]
    [InlineData("tcp://127.0.0.1:7070", "tcp://127.0.0.1:7070")]
    [InlineData("localhost:7070", "tcp://localhost:7070")]
    [InlineData("tcp+plain://10.0.0.1:7070", "tcp+plain://10.0.0.1:7070")]
    public void AddressesParse(string s, string canonical) => Assert.Equal(canonical, NodeAddress.Parse(s).ToString());

    [Fact]
    public void TcpIsTlsUnlessPlainIsAskedFor()
    {
        Assert.False(NodeAddress.Parse("tcp://h:1").Plain);
        Assert.False(NodeAddress.Parse("h:1").Plain);
        Assert.True(NodeAddress.Parse("tcp+plain://h:1").Plain);
    }

    [Theory]
    [InlineData("sha256:0D5EB711A5FC74AD73B80357F803A5607FDCA8B0DD8A2AF5FF0190A05C9A3CEA")]
    [InlineData("0d:5e:b7:11:a5:fc:74:ad:73:b8:03:57:f8:03:a5:60:7f:dc:a8:b0:dd:8a:2a:f5:ff:01:90:a0:5c:9a:3c:ea")]
    public void PinsAreNormalised(string typed)
        => Assert.Equal("sha256:0d5eb711a5fc74ad73b80357f803a5607fdca8b0dd8a2af5ff0190a05c9a3cea", CertificatePin.Normalize(typed));

    [Theory]
    [InlineData("")]
    [InlineData("sha256:abc")]
    [InlineData("sha1:0d5eb711a5fc74ad73b80357f803a5607fdca8b0dd8a2af5ff0190a05c9a3cea")]
    [InlineData("sha256:zz5eb711a5fc74ad73b80357f803a5607fdca8b0dd8a2af5ff0190a05c9a3cea")]
    public void BadPinsAreRefused(string typed) => Assert.Null(CertificatePin.Normalize(typed));

    [Theory]
    [InlineData("nonsense")]
    [InlineData("tcp://host:0")]
    [InlineData("tcp://host:99999")]
    public void BadAddressesAreRefused(string s) => Assert.Throws<CtlException>(() => NodeAddress.Parse(s));
}
