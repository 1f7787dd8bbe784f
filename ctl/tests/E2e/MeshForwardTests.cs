using System.Text.Json;
using Tinyo.Api;
using Tinyo.Rt.Images;
using Xunit.Abstractions;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// Every node equal for logs and exec (issue 14), across 3 network-namespace hosts with real containers: a replica
/// that runs on node B is read and exec'd through node A, which forwards to B over the cluster's mutual TLS; an owner
/// whose API does not answer is a clear error naming it.
/// </summary>
[Collection("e2e")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class MeshForwardTests(MirrorRegistry registry, ITestOutputHelper output) : IClassFixture<MirrorRegistry>
{
    private const string Net = "mesh";
    private const string Drop = "tmfwd_drop";

    private static void Ok((int Code, string Out, string Err) r, MeshHost h, string what)
        => Assert.True(r.Code == 0, $"{what} on {h.Name} failed ({r.Code}): {r.Out}{r.Err}\n--- tinyonode\n{h.Log("tinyonode")}");

    private static async Task<List<(string Name, string? Node)>> RunningAsync(MeshHost h, int want)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        List<(string, string?)> last = [];
        while (DateTime.UtcNow < deadline)
        {
            var r = await h.Tio(["ls", "-o", "json"]);
            if (r.Code == 0)
            {
                var web = JsonSerializer.Deserialize(r.Out, ApiJson.Default.ListAppInfo)?.FirstOrDefault(a => a.Name == "web");
                last = web?.Containers?.Where(c => c.State == "running").Select(c => (c.Name, c.Node)).ToList() ?? [];
                if (last.Count == want) return last;
            }
            await Task.Delay(250);
        }
        Assert.Fail($"{want} replicas not running within 90 s; seen {string.Join(", ", last.Select(x => $"{x.Item1}@{x.Item2}"))}\n{h.Log("tinyonode")}");
        return [];
    }

    /// <summary>The token tio saved on a host at login (credentials.json under its XDG_CONFIG_HOME).</summary>
    private static string TokenOf(MeshHost h)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(h.Dir, "config", "tinyo", "credentials.json")));
        foreach (var p in doc.RootElement.EnumerateObject())
            if (p.Name.Equals("logins", StringComparison.OrdinalIgnoreCase))
                foreach (var login in p.Value.EnumerateObject())
                    foreach (var f in login.Value.EnumerateObject())
                        if (f.Name.Equals("token", StringComparison.OrdinalIgnoreCase)) return f.Value.GetString()!;
        throw new InvalidOperationException($"no saved token on {h.Name}");
    }

    private static Task<(int Code, string Out, string Err)> Nft(MeshHost h, params string[] args)
        => MeshHosts.Run("nsenter", [$"--net=/run/netns/{h.Netns}", "--", "nft", .. args], null, TimeSpan.FromSeconds(20));

    private static void RemoveContainers(MeshHost h)
    {
        if (!Directory.Exists(Path.Combine(h.Root, "rt"))) return;
        var rt = new Tinyo.Rt.Containers.ImageContainers(new Tinyo.Rt.RuntimeRoot(Path.Combine(h.Root, "rt")), new Tinyo.Rt.Containers.RuntimeOptions());
        foreach (var s in rt.List())
        {
            try { rt.Remove(s.Id, force: true); }
            catch (Tinyo.Rt.RtException) { }
        }
    }

    [SkippableFact]
    public async Task Logs_and_exec_of_a_replica_on_node_B_asked_on_node_A_are_forwarded_and_an_unreachable_owner_is_named()
    {
        var why = MeshHosts.CannotRun();
        Skip.If(why is not null, why);
        Skip.If(!File.Exists("/usr/sbin/nft") && !File.Exists("/usr/bin/nft"), "needs nft (to cut one node's API port)");
        await using var mesh = await MeshHosts.CreateAsync(3);
        var (a, b, c) = (mesh.Hosts[0], mesh.Hosts[1], mesh.Hosts[2]);
        try
        {
            Ok(await a.Tio(["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "--addr", a.Address]), a, "tio ++ --addr");
            foreach (var h in (MeshHost[])[b, c])
                Ok(await h.Tio(["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "-ip", a.Address]), h, "tio ++ -ip");
            foreach (var h in mesh.Hosts)
                await new ImageSource(new ImageStore(new Tinyo.Rt.RuntimeRoot(Path.Combine(h.Root, "rt"))), [registry.Mirror], true, _ => { }).GetAsync("busybox:latest", CancellationToken.None);

            var app = Path.Combine(a.Dir, "web.yml");
            await File.WriteAllTextAsync(app, "name: web\ncontainer: busybox:latest\ncommand: [\"sh\", \"-c\", \"echo hello from $(hostname); sleep 3600\"]\nreplicas: 3\nnetwork: none\n");
            Ok(await a.Tio(["+", app]), a, "tio +");
            var spread = await RunningAsync(a, 3);
            var onB = spread.Single(x => x.Node == b.Name).Name; // web-N
            var index = onB[(onB.LastIndexOf('-') + 1)..];
            output.WriteLine($"replicas: {string.Join(", ", spread.Select(x => $"{x.Name}@{x.Node}"))}; asking {a.Name} for {onB}");

            // logs through A = logs on B itself.
            var direct = await b.Tio(["logs", "-r", index, "web"]);
            Ok(direct, b, "tio logs (on the owner)");
            Assert.Contains("hello from", direct.Out);
            var deadline = DateTime.UtcNow.AddSeconds(10);
            var via = await a.Tio(["logs", "-r", index, "web"]);
            while (via.Code == 0 && via.Out.Length == 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
                via = await a.Tio(["logs", "-r", index, "web"]);
            }
            Ok(via, a, "tio logs (forwarded)");
            Assert.Equal(direct.Out, via.Out);

            // exec through A: stdout, stderr and the exit code each where they belong, run on B.
            var ex = await a.Tio(["exec", "-r", index, "web", "--", "sh", "-c", "echo out; echo err >&2; hostname; exit 7"]);
            Assert.True(ex.Code == 7, $"exec through {a.Name}: {ex.Code} {ex.Out}{ex.Err}\n--- {a.Name}\n{a.Log("tinyonode")}\n--- {b.Name}\n{b.Log("tinyonode")}");
            Assert.StartsWith("out\n", ex.Out);
            Assert.Equal("err\n", ex.Err);
            var hostname = (await b.Tio(["exec", "-r", index, "web", "--", "hostname"])).Out;
            Assert.Equal("out\n" + hostname, ex.Out);
            Assert.Contains($"exec in {onB} by admin: forwarded to node {b.Name}", a.Log("tinyonode"));
            Assert.Contains($"exec in {onB} by admin through node {a.Name}", b.Log("tinyonode"));
            // A big output arrives whole through the relay.
            var big = await a.Tio(["exec", "-r", index, "web", "--", "sh", "-c", "yes 0123456789abcdef | head -c 3000000"]);
            Ok(big, a, "exec big (forwarded)");
            Assert.Equal(3_000_000, big.Out.Length);

            // The forward header from a client that is not a cluster node (curl: no client certificate) is refused,
            // though its token is good: only a node proves it is one, over mutual TLS.
            var token = TokenOf(a);
            var spoof = await MeshHosts.Run("nsenter", [$"--net=/run/netns/{a.Netns}", "--", "curl", "-sk", "-w", "\n%{http_code}",
                "-H", $"Authorization: Bearer {token}", "-H", $"Tinyo-Forwarded-By: {a.Name}",
                $"https://{b.Address}:7443/v1/apps/web/logs?replica={index}"], null, TimeSpan.FromSeconds(20));
            Assert.EndsWith("\n403", spoof.Out);
            Assert.Contains("accepted only from the cluster node it names", spoof.Out);
            var plain = await MeshHosts.Run("nsenter", [$"--net=/run/netns/{a.Netns}", "--", "curl", "-sk", "-H", $"Authorization: Bearer {token}",
                $"https://{b.Address}:7443/v1/apps/web/logs?replica={index}"], null, TimeSpan.FromSeconds(20));
            Assert.Equal(direct.Out, plain.Out); // the same token without the header: an ordinary client, served

            // B's API port cut (its KV and liveness go on): A says which node does not answer, within seconds.
            Ok(await Nft(b, "add", "table", "inet", Drop), b, "nft add table");
            Ok(await Nft(b, "add", "chain", "inet", Drop, "in", "{ type filter hook input priority -10 ; }"), b, "nft add chain");
            Ok(await Nft(b, "add", "rule", "inet", Drop, "in", "tcp", "dport", "7443", "ip", "saddr", a.Address, "drop"), b, "nft add rule");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var cut = await a.Tio(["exec", "-r", index, "web", "--", "true"]);
            output.WriteLine($"exec with the owner's API cut: {sw.ElapsedMilliseconds} ms: {cut.Err.Trim()}");
            Assert.NotEqual(0, cut.Code);
            Assert.Contains($"runs on node {b.Name}", cut.Err);
            Assert.Contains("does not answer", cut.Err);
            var cutLogs = await a.Tio(["logs", "-r", index, "web"]);
            Assert.NotEqual(0, cutLogs.Code);
            Assert.Contains("does not answer", cutLogs.Err);
        }
        finally
        {
            await Nft(b, "delete", "table", "inet", Drop);
            await a.Tio(["-", "web"]);
            await Task.Delay(2000);
            foreach (var h in mesh.Hosts) await h.Tio(["down", "--no-drain"]);
            foreach (var h in mesh.Hosts) RemoveContainers(h);
        }
    }
}
