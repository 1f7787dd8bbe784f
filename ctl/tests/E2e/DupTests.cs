namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// `tio dup APP -n N` through the real binaries (tio, tinyonode, tinyokv) as root: N more replicas duplicated from the
/// running one — each serving the source's files, with its own hostname — kept by the reconciler, shown in `tio ls`.
/// </summary>
[Collection("e2e")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class DupTests(MirrorRegistry registry) : IClassFixture<MirrorRegistry>
{
    [Fact]
    public async Task Tio_dup_web_20_gives_20_more_serving_replicas_duplicated_from_web_1()
    {
        await using var n = await ReconcileNode.UpAsync(registry);
        // The page is written once, by web-1 at its start: a replica serving it got it from web-1's files.
        await n.ApplyAsync("web", """
            name: web
            container: "alpine:latest"
            command: ["sh", "-c", "[ -f /www/index.html ] || { mkdir -p /www && echo page-of-$(hostname) > /www/index.html; }; exec httpd -f -p 8080 -h /www"]
            """);
        await n.WaitAppAsync("web", a => a.State == "running", "web running");
        var srcId = n.IdOf("web-1");
        var srcPid = n.Summary("web-1").Pid;

        var r = await n.Tio("dup", "web", "-n", "20");
        Assert.True(r.Code == 0, r.Out + r.Err);
        Assert.Contains("web: replicas 1 → 21, duplicating web-1", r.Out);
        var app = await n.WaitAppAsync("web", a => a.Replicas == 21 && a.Containers is { Count: 21 } cs && cs.All(c => c.State == "running"),
            "21 replicas running", 120_000);
        Assert.All(app.Containers!.Where(c => c.Name != "web-1"), c => Assert.Equal("web-1", c.DuplicatedFrom));
        // Each clone has its own network namespace and cluster address (not its source's).
        var addresses = app.Containers!.Select(c => c.Address).ToList();
        Assert.All(addresses, a => Assert.False(string.IsNullOrEmpty(a)));
        Assert.Equal(addresses.Count, addresses.Distinct().Count());
        for (int i = 2; i <= 21; i++)
        {
            var page = "";
            for (int t = 0; t < 50 && !page.Contains("page-of-web-1"); t++)
            {
                page = (await n.Tio("exec", "web", "-r", i.ToString(System.Globalization.CultureInfo.InvariantCulture), "--", "wget", "-q", "-O-", "http://127.0.0.1:8080/")).Out;
                if (!page.Contains("page-of-web-1")) await Task.Delay(100);
            }
            Assert.Equal("page-of-web-1\n", page);
            Assert.Equal($"web-{i}\n", (await n.Tio("exec", "web", "-r", i.ToString(System.Globalization.CultureInfo.InvariantCulture), "--", "hostname")).Out);
        }
        var ls = await n.Tio("ls");
        Assert.Contains("web-21: duplicated from web-1", ls.Out);
        // The source untouched: same container, same process.
        Assert.Equal(srcId, n.IdOf("web-1"));
        Assert.Equal(srcPid, n.Summary("web-1").Pid);

        // Bad input: an unknown app, a count out of range.
        var bad = await n.Tio("dup", "nope", "-n", "2");
        Assert.NotEqual(0, bad.Code);
        Assert.Contains("no app named nope", bad.Err);
        bad = await n.Tio("dup", "web", "-n", "0");
        Assert.NotEqual(0, bad.Code);
        Assert.Contains("count 0 is out of range: 1 to 1000", bad.Err);
        bad = await n.Tio("dup", "web", "-n", "980");
        Assert.NotEqual(0, bad.Code);
        Assert.Contains("has 21 replicas: 980 more would exceed 1000", bad.Err);
    }
}
