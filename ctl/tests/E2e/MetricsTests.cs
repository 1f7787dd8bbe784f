using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Rt;
using Tinyo.Rt.Images;
using Tinyo.Rt.Network;
using Tinyo.Ctl.Client;
using Xunit.Abstractions;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// One node for the metrics tests, through the real binaries inside a test-made network namespace (nothing touches
/// the host's links): <c>tio ++ --metrics-listen 127.0.0.1:PORT</c>, busybox in its store beforehand, and two apps on
/// its cluster — <c>web</c> (httpd) and <c>client</c> (asks web for its page in a loop, and burns a little CPU) — so
/// every container family has real values. Dispose: tio down, the containers, the node, the namespace, the temp dir.
/// </summary>
public sealed class MetricsNode : IAsyncLifetime
{
    private const string Web = """["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 7000 -h /www"]""";
    private const string Client = """["sh", "-c", "while true; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc web 7000 > /dev/null; i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; sleep 0.2; done"]""";

    private MirrorRegistry? registry;
    private NetworkNamespace? ns;

    public string Dir { get; } = Directory.CreateTempSubdirectory("tio-metrics-").FullName;
    public string NetnsPath => Path.Combine(Dir, "node-ns");
    public TioNode? Node { get; private set; }
    public int MetricsPort { get; } = TioNode.FreePort();
    /// <summary>The current metrics token (the rotation test sets the new one).</summary>
    public string? Token { get; set; }
    public string? SkipReason { get; private set; }

    public async Task InitializeAsync()
    {
        if (Environment.UserName != "root") { SkipReason = "needs root (network namespaces, cgroups)"; return; }
        if (!File.Exists("/usr/sbin/nft") && !File.Exists("/usr/bin/nft")) { SkipReason = "nft is not installed (make deps)"; return; }
        registry = new MirrorRegistry();
        ns = NetworkNamespace.Create(NetnsPath);
        ns.Netlink.SetUp(ns.Netlink.LinkIndex("lo"), true);
        ns.WriteSysctl("net.ipv4.ip_forward", "0");
        Node = new TioNode { Netns = NetnsPath };
        var rtRoot = new RuntimeRoot(Path.Combine(Node.Root, "rt"));
        await new ImageSource(new ImageStore(rtRoot), [registry.Mirror], true, _ => { }).GetAsync("busybox:latest", CancellationToken.None);
        Ok(await Node.Tio(["++", "-net", "mon", "-u", "admin", "-p", TioNode.Password, "--metrics-listen", $"127.0.0.1:{MetricsPort}"]), "tio ++ --metrics-listen");
        Ok(await Apply("web", $"name: web\ncontainer: busybox:latest\ncommand: {Web}\n"), "apply web");
        Ok(await Apply("client", $"name: client\ncontainer: busybox:latest\ncommand: {Client}\n"), "apply client");
        var token = await Node.Tio(["metrics", "token"]);
        Ok(token, "tio metrics token");
        Token = token.Out.Trim();
        // Running, and the client's traffic and CPU time show.
        await Until(async () => (await Scrape()).Contains("tinyo_container_network_receive_bytes_total{app=\"client\",replica=\"client-1\"} ")
            && Value(await Scrape(), "tinyo_container_cpu_seconds_total{app=\"client\",replica=\"client-1\"}") > 0
            && Value(await Scrape(), "tinyo_container_network_transmit_bytes_total{app=\"client\",replica=\"client-1\"}") > 0,
            "the client replica's network bytes and CPU time in /metrics", 90_000);
    }

    /// <summary>GET /metrics on the node's unix socket (which the test reaches from the host's namespace).</summary>
    public async Task<string> Scrape(string? token = null)
    {
        var (status, body) = await new NodeClient(new NodeAddress(Node!.Socket, null), token ?? Token).SendAsync("GET", "/metrics", null);
        return status == 200 ? Encoding.UTF8.GetString(body) : $"HTTP {status}: {Encoding.UTF8.GetString(body)}";
    }

    /// <summary>The value of the sample line that starts with <paramref name="series"/>, or -1.</summary>
    public static double Value(string text, string series)
    {
        foreach (var line in text.Split('\n'))
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
                return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
        return -1;
    }

    /// <summary>Runs a program inside the node's namespace; its exit code and output.</summary>
    public (int Code, string Out) InNs(params string[] args)
    {
        var psi = new ProcessStartInfo("nsenter") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("--net=" + NetnsPath);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(30_000)) p.Kill();
        p.WaitForExit();
        return (p.ExitCode, o.Result + e.Result);
    }

    public static async Task Until(Func<Task<bool>> ok, string what, int timeoutMs = 30_000)
    {
        var sw = Stopwatch.StartNew();
        while (!await ok())
        {
            if (sw.ElapsedMilliseconds > timeoutMs) Assert.Fail($"timed out waiting: {what}");
            await Task.Delay(300);
        }
    }

    public static void Ok((int Code, string Out, string Err) r, string what) => Assert.True(r.Code == 0, $"{what}: exit {r.Code}: {r.Out}{r.Err}");

    private async Task<(int Code, string Out, string Err)> Apply(string name, string yaml)
    {
        var file = Path.Combine(Dir, name + ".yml");
        await File.WriteAllTextAsync(file, yaml);
        return await Node!.Tio(["+", file]);
    }

    public async Task DisposeAsync()
    {
        if (Node is not null)
        {
            await Node.Tio(["down", "--grace", "5"]);
            ClusterNetworkTests.RemoveContainers(Path.Combine(Node.Root, "rt"));
            await Node.DisposeAsync();
        }
        ns?.Dispose();
        if (File.Exists(NetnsPath)) NetworkNamespace.Remove(NetnsPath);
        registry?.Dispose();
        Directory.Delete(Dir, true);
    }
}

/// <summary>
/// /metrics of a real node: the families and their values, the token rules, Debian's <c>promtool check metrics</c> on
/// the text, a real Prometheus scraping the node's --metrics-listen address, and <c>tio stats</c> from the same
/// collector.
/// </summary>
[Collection("e2e")]
public sealed class MetricsTests(MetricsNode node, ITestOutputHelper output) : IClassFixture<MetricsNode>
{
    private static string? Tool(string name)
        => new[] { "/usr/bin/", "/usr/local/bin/", "/bin/" }.Select(d => d + name).FirstOrDefault(File.Exists);

    [SkippableFact]
    public async Task Metrics_have_every_family_with_real_values_and_need_a_token()
    {
        Skip.If(node.SkipReason is not null, node.SkipReason);
        var text = await node.Scrape();
        output.WriteLine(text);
        foreach (var family in (string[])["tinyo_build_info", "tinyo_node_uptime_seconds", "tinyo_kv_up", "tinyo_node_replicas",
                     "tinyo_container_state", "tinyo_container_restarts_total", "tinyo_container_cpu_seconds_total",
                     "tinyo_container_memory_bytes", "tinyo_container_network_receive_bytes_total",
                     "tinyo_container_network_transmit_bytes_total", "tinyo_kv_is_leader", "tinyo_kv_raft_term",
                     "tinyo_kv_raft_commit_index", "tinyo_kv_raft_commit_lag", "tinyo_kv_leader_changes_total"])
            Assert.Contains($"# TYPE {family} ", text);
        Assert.Equal(2, MetricsNode.Value(text, "tinyo_node_replicas{state=\"running\"}"));
        Assert.Equal(1, MetricsNode.Value(text, "tinyo_container_state{app=\"web\",replica=\"web-1\",state=\"running\"}"));
        Assert.Equal(0, MetricsNode.Value(text, "tinyo_container_restarts_total{app=\"web\",replica=\"web-1\"}"));
        Assert.True(MetricsNode.Value(text, "tinyo_container_memory_bytes{app=\"web\",replica=\"web-1\"}") > 0);
        Assert.Equal(1L << 30, MetricsNode.Value(text, "tinyo_container_memory_limit_bytes{app=\"web\",replica=\"web-1\"}")); // the default limit
        // web answered the client: it received and sent bytes too.
        Assert.True(MetricsNode.Value(text, "tinyo_container_network_receive_bytes_total{app=\"web\",replica=\"web-1\"}") > 0);
        Assert.True(MetricsNode.Value(text, "tinyo_container_network_transmit_bytes_total{app=\"web\",replica=\"web-1\"}") > 0);
        Assert.Equal(1, MetricsNode.Value(text, "tinyo_kv_up"));
        Assert.Contains("tinyo_kv_is_leader{member=", text);
        Assert.Contains(" 1\n", text[text.IndexOf("tinyo_kv_is_leader{", StringComparison.Ordinal)..]); // a one-member KV leads
        Assert.True(MetricsNode.Value(text, "tinyo_node_uptime_seconds") > 0);

        // The CPU counter only goes up between scrapes.
        var cpu1 = MetricsNode.Value(text, "tinyo_container_cpu_seconds_total{app=\"client\",replica=\"client-1\"}");
        await Task.Delay(1500);
        Assert.True(MetricsNode.Value(await node.Scrape(), "tinyo_container_cpu_seconds_total{app=\"client\",replica=\"client-1\"}") >= cpu1);

        // No token, a wrong one: 401. A user's token reads metrics too.
        Assert.StartsWith("HTTP 401", await node.Scrape("tio_not-the-token"));
        var (anon, _) = await new NodeClient(new NodeAddress(node.Node!.Socket, null)).SendAsync("GET", "/metrics", null);
        Assert.Equal(401, anon);
        Assert.Contains("# TYPE tinyo_build_info gauge", await node.Scrape(node.Node.SavedToken()));

        // The metrics listener: plain HTTP, /metrics with the token only, nothing else.
        var url = $"http://127.0.0.1:{node.MetricsPort}";
        Assert.Equal("200", node.InNs("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + node.Token, url + "/metrics").Out);
        Assert.Equal("401", node.InNs("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url + "/metrics").Out);
        Assert.Equal("404", node.InNs("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + node.Token, url + "/v1/apps").Out);

        // A new token: the old one stops working (after the node's 5 s cache), the new one works.
        var rotated = await node.Node.Tio(["metrics", "token", "--new"]);
        MetricsNode.Ok(rotated, "tio metrics token --new");
        var fresh = rotated.Out.Trim();
        Assert.NotEqual(node.Token, fresh);
        await MetricsNode.Until(async () => (await node.Scrape()).StartsWith("HTTP 401", StringComparison.Ordinal), "the old token refused");
        Assert.Contains("# TYPE tinyo_build_info gauge", await node.Scrape(fresh));
        // Put the fixture's token back in line for the other tests.
        node.Token = fresh;
    }

    [SkippableFact]
    public async Task Promtool_check_metrics_accepts_the_node_text()
    {
        Skip.If(node.SkipReason is not null, node.SkipReason);
        var promtool = Tool("promtool");
        Skip.If(promtool is null, "promtool is not installed (Debian package prometheus; make deps)");
        var text = await node.Scrape();
        Assert.StartsWith("# HELP", text);
        var psi = new ProcessStartInfo(promtool!, "check metrics") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        await p.StandardInput.WriteAsync(text);
        p.StandardInput.Close();
        var o = await p.StandardOutput.ReadToEndAsync();
        var e = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"promtool check metrics: exit {p.ExitCode}: {o}{e}");
        Assert.Equal("", (o + e).Trim()); // no lint remarks either
    }

    [SkippableFact]
    public async Task A_real_prometheus_scrapes_the_node()
    {
        Skip.If(node.SkipReason is not null, node.SkipReason);
        var prometheus = Tool("prometheus");
        Skip.If(prometheus is null, "prometheus is not installed (Debian package prometheus; make deps)");
        var dir = Path.Combine(node.Dir, "prometheus");
        Directory.CreateDirectory(dir);
        var tokenFile = Path.Combine(dir, "token");
        await File.WriteAllTextAsync(tokenFile, node.Token);
        var config = Path.Combine(dir, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: tinyo
                authorization:
                  credentials_file: {tokenFile}
                static_configs:
                  - targets: ["127.0.0.1:{node.MetricsPort}"]
            """);
        var webPort = TioNode.FreePort(); // any port is free inside the node's fresh namespace
        var psi = new ProcessStartInfo("nsenter") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["--net=" + node.NetnsPath, prometheus!, "--config.file=" + config, "--storage.tsdb.path=" + Path.Combine(dir, "data"),
                     $"--web.listen-address=127.0.0.1:{webPort}", "--log.level=warn"])
            psi.ArgumentList.Add(a);
        var log = new StringBuilder();
        using var p = Process.Start(psi)!; // nsenter execs prometheus: this pid is prometheus'
        p.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        try
        {
            string Query(string q) => node.InNs("curl", "-s", "--get", "--data-urlencode", "query=" + q, $"http://127.0.0.1:{webPort}/api/v1/query").Out;
            static List<(Dictionary<string, string> Labels, string Value)> Results(string json)
            {
                var list = new List<(Dictionary<string, string>, string)>();
                try
                {
                    using var doc = JsonDocument.Parse(json);
                    foreach (var r in doc.RootElement.GetProperty("data").GetProperty("result").EnumerateArray())
                        list.Add((r.GetProperty("metric").EnumerateObject().ToDictionary(x => x.Name, x => x.Value.GetString()!),
                            r.GetProperty("value")[1].GetString()!));
                }
                catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    // not up yet, or no data yet
                }
                return list;
            }
            await MetricsNode.Until(() => Task.FromResult(Results(Query("up")) is [var up] && up.Value == "1"),
                "Prometheus reports the node's target up", 60_000);
            await MetricsNode.Until(() => Task.FromResult(Results(Query("tinyo_container_cpu_seconds_total{app=\"client\"}")).Count == 1),
                "a container metric in Prometheus", 30_000);
            var mem = Results(Query("tinyo_container_memory_bytes"));
            Assert.Equal(["client-1", "web-1"], mem.Select(m => m.Labels["replica"]).Order());
            Assert.All(mem, m => Assert.True(double.Parse(m.Value, CultureInfo.InvariantCulture) > 0));
            Assert.Equal("1", Results(Query("tinyo_kv_is_leader"))[0].Value);
            Assert.Equal("tinyo", Results(Query("up"))[0].Labels["job"]);
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill(); // by its pid
                p.WaitForExit(10_000);
            }
            output.WriteLine(log.ToString());
        }
        Assert.True(p.HasExited, "prometheus did not stop");
    }

    [SkippableFact]
    public async Task Tio_stats_shows_cpu_memory_network_and_restarts_per_replica()
    {
        Skip.If(node.SkipReason is not null, node.SkipReason);
        var n = node.Node!;
        var all = await n.Tio(["stats"]);
        MetricsNode.Ok(all, "tio stats");
        output.WriteLine(all.Out);
        var lines = all.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("REPLICA", lines[0].Split(' ')[0]);
        Assert.Contains("CPU %", lines[0]);
        var client = lines.Single(l => l.StartsWith("client-1 ", StringComparison.Ordinal)).Split("  ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(["client-1", "client", "running"], client[..3]);
        Assert.True(double.Parse(client[3], CultureInfo.InvariantCulture) >= 0, client[3]);
        Assert.EndsWith(" / 1.0 GiB", client[4]);
        Assert.Matches(@"^\d+(\.\d)? (B|KiB|MiB)$", client[5]);
        Assert.Equal("0", client[^1]);

        // One app; JSON; errors.
        var web = await n.Tio(["stats", "web", "-i", "0.5"]);
        MetricsNode.Ok(web, "tio stats web");
        Assert.Contains("web-1", web.Out);
        Assert.DoesNotContain("client-1", web.Out);
        var json = await n.Tio(["stats", "-o", "json"]);
        MetricsNode.Ok(json, "tio stats -o json");
        var stats = JsonSerializer.Deserialize(json.Out, StatsJson.Default.NodeStats)!;
        Assert.Equal(2, stats.Replicas.Count);
        Assert.All(stats.Replicas, r => Assert.True(r.CpuNanos > 0 && r.MemoryBytes > 0 && r.RxBytes > 0, r.ToString()));
        var missing = await n.Tio(["stats", "nosuch"]);
        Assert.Equal(4, missing.Code);
        Assert.Contains("no such app: nosuch", missing.Err);
        var bad = await n.Tio(["stats", "Bad_Name"]);
        Assert.Equal(2, bad.Code);
        Assert.Contains("invalid app name 'Bad_Name'", bad.Err);
        var interval = await n.Tio(["stats", "-i", "0"]);
        Assert.Equal(2, interval.Code);
        Assert.Contains("--interval 0: expected 0.2 to 60 seconds", interval.Err);
        var help = await n.Tio(["stats", "--help"]);
        MetricsNode.Ok(help, "tio stats --help");
        Assert.Contains("--watch", help.Out);
    }
}
