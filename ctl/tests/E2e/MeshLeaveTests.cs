using Xunit.Abstractions;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// Nodes leaving a mesh (issue 14), across 3 network-namespace hosts: <c>tio node - B</c> on A drains B, and B stops
/// its own daemons (it sees its removal in the KV) and its KV member leaves the group; then <c>tio down</c> on A and
/// on C in turn each end — A leaves the KV group, so C alone still has a majority and stops cleanly. Afterwards no
/// host has a daemon, a tinyo nft table, a tinyo link or a mount under its directory left.
/// </summary>
[Collection("e2e")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class MeshLeaveTests(ITestOutputHelper output)
{
    private const string Net = "mesh";

    private static void Ok((int Code, string Out, string Err) r, MeshHost h, string what)
        => Assert.True(r.Code == 0, $"{what} on {h.Name} failed ({r.Code}): {r.Out}{r.Err}\n--- tinyonode\n{h.Log("tinyonode")}\n--- tinyokv\n{h.Log("tinyokv")}");

    private static Task<(int Code, string Out, string Err)> InNetns(MeshHost h, string file, params string[] args)
        => MeshHosts.Run("nsenter", [$"--net=/run/netns/{h.Netns}", "--", file, .. args], null, TimeSpan.FromSeconds(20));

    /// <summary>The KV members as A's tinyokv lists them (names), through the node's own identity.</summary>
    private static async Task<List<string>> MembersAsync(MeshHost h)
    {
        var pid = h.Pid("tinyokv") ?? throw new InvalidOperationException($"no tinyokv on {h.Name}");
        var endpoint = Tinyo.Ctl.Setup.KvMembership.ClientAddress(pid) ?? throw new InvalidOperationException("no --listen-client");
        var start = Binaries.Start("tinyokv");
        var pki = Path.Combine(h.Root, "pki");
        var r = await InNetns(h, start.FileName, [.. start.ArgumentList, "member", "list", "--endpoints", endpoint, "--token-file", Path.Combine(h.Root, "kv.token"),
            "--cacert", Path.Combine(pki, "ca.crt"), "--cert", Path.Combine(pki, "node.crt"), "--key", Path.Combine(pki, "node.key")]);
        Assert.True(r.Code == 0, $"member list on {h.Name}: {r.Err}");
        return [.. r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(", ")[0])];
    }

    /// <summary>What of a host is left: its daemons, nft tables and tinyo links in its namespace, mounts under its directory.</summary>
    private static async Task<List<string>> LeftoversAsync(MeshHost h)
    {
        var left = new List<string>();
        left.AddRange(h.DaemonPids().Select(p => $"process {p}: {File.ReadAllText($"/proc/{p}/cmdline").Replace('\0', ' ')}"));
        var nft = await InNetns(h, "nft", "list", "tables");
        left.AddRange(nft.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(t => "nft " + t));
        var links = await InNetns(h, "ip", "-o", "link");
        left.AddRange(links.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\d+: t[bvpx][0-9a-f]")).Select(l => "link " + l));
        left.AddRange(File.ReadAllLines("/proc/mounts").Where(m => m.Contains(h.Dir, StringComparison.Ordinal)).Select(m => "mount " + m));
        return left;
    }

    private static async Task WaitGoneAsync(MeshHost h, TimeSpan limit, string what)
    {
        var deadline = DateTime.UtcNow + limit;
        while (h.DaemonPids().Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.True(h.DaemonPids().Count == 0, $"{what}: {h.Name}'s daemons still run after {limit.TotalSeconds} s\n--- tinyonode\n{h.Log("tinyonode")}\n--- tinyokv\n{h.Log("tinyokv")}");
    }

    [SkippableFact]
    public async Task A_removed_node_stops_itself_and_the_last_two_go_down_in_turn_leaving_nothing()
    {
        var why = MeshHosts.CannotRun();
        Skip.If(why is not null, why);
        Skip.If(!File.Exists("/usr/sbin/nft") && !File.Exists("/usr/bin/nft"), "needs nft (to look for the nodes' tables)");
        await using var mesh = await MeshHosts.CreateAsync(3);
        var (a, b, c) = (mesh.Hosts[0], mesh.Hosts[1], mesh.Hosts[2]);
        try
        {
            Ok(await a.Tio(["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "--addr", a.Address]), a, "tio ++ --addr");
            foreach (var h in (MeshHost[])[b, c])
                Ok(await h.Tio(["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "-ip", a.Address]), h, "tio ++ -ip");
            Assert.Equal(3, (await MembersAsync(a)).Count);

            // tio node - B on A: B drains, sees its removal, stops both daemons; its member leaves the KV group.
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var rm = await a.Tio(["node", "-", b.Name]);
            Ok(rm, a, "tio node -");
            Assert.Contains("removed from the cluster", rm.Out);
            await WaitGoneAsync(b, TimeSpan.FromSeconds(30), "after tio node -");
            output.WriteLine($"tio node - {b.Name}: {rm.Out.Trim()}; its daemons gone after {sw.ElapsedMilliseconds} ms");
            Assert.Contains("removed from the cluster (tio node -): stopping", b.Log("tinyonode"));
            var members = await MembersAsync(a);
            Assert.Equal([a.Name, c.Name], members.Order());
            Assert.DoesNotContain(b.Name, (await a.Tio(["node", "ls"])).Out);
            Assert.Empty(await LeftoversAsync(b));

            // tio down on A: drains (C is ready), stops its node, leaves the KV group, ends.
            sw.Restart();
            var downA = await a.Tio(["down", "--grace", "5"]);
            Ok(downA, a, "tio down");
            output.WriteLine($"tio down {a.Name}: {sw.ElapsedMilliseconds} ms\n{downA.Out.Trim()}");
            Assert.Contains("left the KV group", downA.Out);
            await WaitGoneAsync(a, TimeSpan.FromSeconds(15), "after tio down");
            Assert.Equal([c.Name], await MembersAsync(c));

            // C alone has its majority: it answers, and its tio down ends cleanly (nft table and all).
            Ok(await c.Tio(["node", "ls"]), c, "tio node ls (the last node)");
            sw.Restart();
            var downC = await c.Tio(["down", "--grace", "5"]);
            Ok(downC, c, "tio down (the last node)");
            output.WriteLine($"tio down {c.Name} (last): {sw.ElapsedMilliseconds} ms\n{downC.Out.Trim()}");
            Assert.DoesNotContain("left the KV group", downC.Out); // the last voter has nothing to leave
            await WaitGoneAsync(c, TimeSpan.FromSeconds(15), "after the last tio down");
            foreach (var h in mesh.Hosts) Assert.Empty(await LeftoversAsync(h));

            // A node that left cannot start its old member again: tio ++ says what to do.
            var again = await a.Tio(["++", "-net", Net, "-u", "admin", "-p", MeshHosts.Password, "--addr", a.Address]);
            Assert.NotEqual(0, again.Code);
            Assert.Contains("left its cluster", again.Err);
            Assert.Empty(a.DaemonPids());
        }
        finally
        {
            foreach (var h in mesh.Hosts) await h.Tio(["down", "--no-drain", "--grace", "2"]);
        }
    }
}
