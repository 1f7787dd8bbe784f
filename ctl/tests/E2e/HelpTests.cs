namespace Tinyo.Ctl.Tests.E2e;

[Collection("e2e")]
public class HelpTests
{
    [Fact]
    public async Task EveryVerbHasHelp()
    {
        await using var n = new TioNode();
        string[][] verbs =
        [
            ["++"], ["init"], ["down"], ["+"], ["apply"], ["-"], ["rm"], ["ls"], ["logs"], ["exec"], ["login"], ["logout"],
            ["user"], ["user", "+"], ["user", "-"], ["user", "ls"], ["secret"], ["secret", "+"], ["secret", "-"], ["secret", "ls"],
            ["net"], ["net", "+"], ["net", "-"], ["net", "ls"], ["net", "egress"], ["status"], ["version"], ["backup"], ["restore"],
        ];
        foreach (var v in verbs)
        {
            var r = await n.Tio([.. v, "--help"]);
            Assert.True(r.Code == 0, $"tio {string.Join(' ', v)} --help: {r.Code} {r.Err}");
            Assert.Contains("Usage:", r.Out);
            Assert.DoesNotContain("\e[", r.Out); // no colour when not a terminal
        }
        var root = await n.Tio(["--help"]);
        Assert.Contains("++, init", root.Out);
        Assert.Contains("down, --", root.Out);
    }
}
