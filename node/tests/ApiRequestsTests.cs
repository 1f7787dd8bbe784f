using System.Text;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Api.Statefile;
using Tinyo.Node.Api;

namespace Tinyo.Node.Tests;

/// <summary>The node re-checks what a client sends: it never trusts tio's own validation (issue 10, item 7).</summary>
public sealed class ApiRequestsTests
{
    private static byte[] ApplyBody(string yaml)
        => JsonSerializer.SerializeToUtf8Bytes(new ApplyRequest("app.yml", yaml, null), ApiJson.Default.ApplyRequest);

    [Fact]
    public void TheNodeRefusesAnAliasMultiplierEvenFromAClientThatSkippedTheCheck()
    {
        var yaml = new StringBuilder("container: alpine\nentrypoint: [&big ").Append('a', 100_000).Append("]\ncommand: [");
        for (var i = 0; i < 1000; i++) yaml.Append(i == 0 ? "*big" : ", *big");
        yaml.Append("]\n");
        var e = Assert.Throws<StatefileException>(() => ApiRequests.Apply(ApplyBody(yaml.ToString())));
        Assert.Contains("expands to more than 1 MiB", e.Message);
        Assert.True(e.Line > 0);
    }

    [Fact]
    public void TheNodeRefusesAStatefileLargerThanTheLimit()
    {
        var e = Assert.Throws<ApiRequestException>(() => ApiRequests.Apply(ApplyBody("container: alpine\n#" + new string('x', Statefile.MaxBytes))));
        Assert.Equal(413, e.Status);
    }

    [Fact]
    public void TheNodesOwnPortsAreRefused()
    {
        var (file, specs) = ApiRequests.Apply(ApplyBody("container: alpine\nport: [\"7443:80\", \"9000:9000/udp\"]\n"));
        var e = Assert.Throws<ApiRequestException>(() => ApiRequests.CheckReservedPorts(file, specs, [(7443, "the node's API port (--listen-tcp)")]));
        Assert.Equal((422, "port_reserved"), (e.Status, e.Code));
        Assert.Contains("port 7443 is the node's API port", e.Message);
        ApiRequests.CheckReservedPorts(file, specs, [(9000, "x")]); // udp 9000 is not the TCP port 9000
        ApiRequests.CheckReservedPorts(file, specs, []);
    }

    [Fact]
    public void NamesAreEchoedEscaped()
    {
        var e = Assert.Throws<ApiRequestException>(() => ApiRequests.ValidName("\u001b[2Jbob", "user"));
        Assert.DoesNotContain('\u001b', e.Message);
        Assert.Contains("\\x1b[2Jbob", e.Message);
        var body = Encoding.UTF8.GetString(Http.HttpServer.Error(404, "no such route: /v1/\u001b]0;x\u0007", "not_found").Body);
        Assert.Contains("\\\\x1b]0;x\\\\x07", body); // the escape is the text's own, JSON-quoted
    }
}
