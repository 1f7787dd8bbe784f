using System.Diagnostics;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Ctl.Setup;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// `tio ++` / `tio down` where systemd is the init system: a real systemd booted as PID 1 of its own namespaces
/// (<see cref="SystemdInstance"/>), the real binaries run inside it through nsenter.
/// </summary>
[Collection("e2e")]
public class SystemdTests(MirrorRegistry registry) : IClassFixture<MirrorRegistry>
{
    [SkippableFact]
    public async Task UnitsRunTheNodeKeepContainersAcrossACrashAndDownStopsThem()
    {
        var why = SystemdInstance.Unsupported();
        Skip.If(why is not null, "no systemd instance can be booted here: " + why);
        var sw = Stopwatch.StartNew();
        using var sd = await SystemdInstance.BootAsync(TimeSpan.FromSeconds(20));
        Console.WriteLine($"systemd booted in {sw.ElapsedMilliseconds} ms");
        var root = Path.Combine(sd.Work, "root");
        var env = new Dictionary<string, string>
        {
            ["TINYO_ROOT"] = root,
            ["TINYO_SOCKET"] = Path.Combine(sd.Work, "node.sock"),
            ["XDG_CONFIG_HOME"] = Path.Combine(sd.Work, "config"),
            ["TINYO_KV_PORT"] = TioNode.FreePort().ToString(),
            ["TINYO_KV_PEER_PORT"] = TioNode.FreePort().ToString(),
            ["NO_COLOR"] = "1",
            // Passed on into the units (a unit does not inherit tio's environment): pulls only from the mirror.
            ["TINYO_OFFLINE"] = "1",
            ["TINYO_REGISTRY_MIRRORS"] = registry.Mirror,
        };
        if (Binaries.Dir is null)
        {
            env["TINYO_KV_BIN"] = Binaries.Dll("tinyokv");
            env["TINYO_NODE_BIN"] = Binaries.Dll("tinyonode");
        }
        var tioPsi = Binaries.Start("tio");
        List<string> tio = [tioPsi.FileName == "dotnet" ? "/usr/bin/dotnet" : tioPsi.FileName, .. tioPsi.ArgumentList];
        Task<(int Code, string Out, string Err)> Tio(params string[] args) => sd.RunAsync([.. tio, .. args], env);
        async Task<string> Systemctl(params string[] args) => (await sd.RunAsync(["systemctl", .. args])).Out.Trim();
        string[] init = ["++", "-net", "testnet", "-u", "admin", "-p", TioNode.Password];
        var kvUnit = $"tinyokv-{SystemdUnits.RootHash(root)}.service";
        var nodeUnit = $"tinyonode-{SystemdUnits.RootHash(root)}.service";

        // A daemon that dies at once: a clear error with its journal, and its unit neither running nor enabled.
        var badRoot = Path.Combine(sd.Work, "bad");
        var badKv = $"tinyokv-{SystemdUnits.RootHash(badRoot)}.service";
        sw.Restart();
        var bad = await sd.RunAsync([.. tio, .. init], new Dictionary<string, string>(env) { ["TINYO_ROOT"] = badRoot, ["TINYO_KV_BIN"] = "/bin/false" });
        Assert.True(bad.Code == 1, $"tio ++ with a failing tinyokv: exit {bad.Code}: {bad.Out}{bad.Err}");
        Assert.Contains($"tio: tinyokv did not start (journalctl -u {badKv})", bad.Err);
        Assert.Equal("inactive", await Systemctl("is-active", badKv));
        Assert.Equal("disabled", await Systemctl("is-enabled", badKv));
        Console.WriteLine($"tio ++ with a failing tinyokv: {sw.ElapsedMilliseconds} ms");
        Assert.True(bad.Err.Contains("exit status 1"), bad.Err);
        Assert.Contains($"removed   {badKv}", (await sd.RunAsync([.. tio, "down", "--remove-units"], new Dictionary<string, string>(env) { ["TINYO_ROOT"] = badRoot })).Out);

        // tio ++ in auto mode sees /run/systemd/system: units, not pid files.
        sw.Restart();
        var up = await Tio(init);
        Assert.True(up.Code == 0, $"tio ++: exit {up.Code}: {up.Out}{up.Err}\n" +
            (await sd.RunAsync(["journalctl", "--no-pager", "--unit", kvUnit, "--unit", nodeUnit, "--unit", "init.scope"])).Out);
        Console.WriteLine($"tio ++ with units: {sw.ElapsedMilliseconds} ms");
        Assert.Contains($"tinyokv   started (unit {kvUnit}, pid ", up.Out);
        Assert.Contains($"tinyonode started (unit {nodeUnit}, pid ", up.Out);
        Assert.False(Directory.Exists(Path.Combine(root, "run")) && Directory.EnumerateFiles(Path.Combine(root, "run"), "*.pid").Any());
        Assert.Equal("active\nactive", await Systemctl("is-active", kvUnit, nodeUnit));
        Assert.Equal("enabled\nenabled", await Systemctl("is-enabled", kvUnit, nodeUnit));
        var unitText = File.ReadAllText(sd.Inside("/etc/systemd/system/" + nodeUnit));
        Assert.Contains("KillMode=process", unitText);
        Assert.Contains($"Environment=\"TINYO_REGISTRY_MIRRORS={registry.Mirror}\"", unitText);
        Assert.DoesNotContain(File.ReadAllText(Path.Combine(root, "kv.token")).Trim(), File.ReadAllText(sd.Inside("/etc/systemd/system/" + kvUnit)));
        var nodePid = int.Parse(await Systemctl("show", "--property=MainPID", "--value", nodeUnit));

        // Idempotent: a second run reports the units.
        var again = await Tio(init);
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains($"tinyonode already running (unit {nodeUnit}, pid {nodePid})", again.Out);
        Assert.Contains("net       already there: testnet", again.Out);

        // A container, then kill -9 of the node: systemd restarts the node (Restart=on-failure) and, with
        // KillMode=process, leaves the container running; the new node re-adopts it.
        var file = Path.Combine(sd.Work, "keep.yml");
        File.WriteAllText(file, "container: \"busybox:latest\"\ncommand: [\"sh\", \"-c\", \"exec sleep 1000\"]\n");
        var apply = await Tio("+", file);
        Assert.True(apply.Code == 0, $"tio +: {apply.Out}{apply.Err}");
        var app = await WaitAppAsync(Tio, "keep", a => a.State == "running", "keep running");
        var container = app.Containers![0];
        Assert.True(Alive(sd, container.Pid));

        Assert.Equal(0, (await sd.RunAsync(["kill", "-9", nodePid.ToString()])).Code);
        var restarted = 0;
        for (var i = 0; i < 200 && restarted == 0; i++)
        {
            await Task.Delay(50);
            if (await Systemctl("show", "--property=MainPID", "--value", nodeUnit) is var s && int.TryParse(s, out var p) && p != 0 && p != nodePid)
                restarted = p;
        }
        Assert.True(restarted != 0, $"systemd did not restart the node: {await Systemctl("status", nodeUnit)}");
        Assert.True(Alive(sd, container.Pid), "the container died with the node");
        // The new node says so in the journal (the unit's output); `tio ls` may still show the old node's status before.
        var journal = "";
        for (var i = 0; i < 200 && !journal.Contains("re-adopted keep-1"); i++)
        {
            await Task.Delay(100);
            journal = (await sd.RunAsync(["journalctl", "--unit", nodeUnit, "--no-pager", "--output", "cat"])).Out;
        }
        Assert.True(journal.Contains("re-adopted keep-1"), $"no re-adoption in the journal:\n{journal}");
        Assert.True(Alive(sd, container.Pid), "the container died with the node");
        app = await WaitAppAsync(Tio, "keep", a => a.State == "running" && a.Containers![0].Pid == container.Pid, "keep re-adopted");
        Assert.Equal(container.Id, app.Containers![0].Id);
        Assert.Equal(0, app.Restarts);

        // tio down: both units stopped (the node stops its containers on SIGTERM, as in the process mode) and
        // disabled; the unit files stay for the next tio ++.
        var down = await Tio("down", "--grace", "10");
        Assert.True(down.Code == 0, $"tio down: {down.Out}{down.Err}");
        Assert.Contains($"tinyonode stopped (unit {nodeUnit}, pid {restarted})", down.Out);
        Assert.Contains($"tinyokv   stopped (unit {kvUnit}, pid ", down.Out);
        Assert.Equal("inactive\ninactive", await Systemctl("is-active", kvUnit, nodeUnit));
        Assert.Equal("disabled\ndisabled", await Systemctl("is-enabled", kvUnit, nodeUnit));
        Assert.False(Alive(sd, container.Pid), "tio down left the container running");
        Assert.Contains("nothing running", (await Tio("down")).Out);

        // Up again from the same units and state, then the full teardown removes the unit files.
        var up2 = await Tio(init);
        Assert.True(up2.Code == 0, $"second tio ++: {up2.Out}{up2.Err}");
        Assert.Contains($"tinyonode started (unit {nodeUnit}", up2.Out);
        await WaitAppAsync(Tio, "keep", a => a.State == "running", "keep back after down/up");
        var purge = await Tio("down", "--remove-units");
        Assert.True(purge.Code == 0, $"tio down --remove-units: {purge.Out}{purge.Err}");
        Assert.Contains($"removed   {nodeUnit}, {kvUnit} from /etc/systemd/system", purge.Out);
        Assert.False(File.Exists(sd.Inside("/etc/systemd/system/" + nodeUnit)));
        Assert.False(File.Exists(sd.Inside("/etc/systemd/system/" + kvUnit)));
        Assert.Equal("inactive\ninactive", await Systemctl("is-active", kvUnit, nodeUnit));
    }

    [SkippableFact]
    public async Task ForcedSystemdWithoutSystemdIsAUsageErrorThatCreatesNothing()
    {
        Skip.If(Directory.Exists(ServiceModes.SystemdRunDir), "this host is systemd-booted (the forced mode would work)");
        await using var n = new TioNode();
        var r = await n.Tio(["++", "-net", "testnet", "-u", "admin", "-p", TioNode.Password, "--supervisor", "systemd"]);
        Assert.Equal(2, r.Code);
        Assert.Contains("systemd is not the init system here (no /run/systemd/system)", r.Err);
        Assert.False(Directory.Exists(n.Root));
        var bad = await n.Tio(["++", "-net", "testnet", "-u", "admin", "-p", TioNode.Password], extraEnv: new() { ["TINYO_SUPERVISOR"] = "upstart" });
        Assert.Equal(2, bad.Code);
        Assert.Contains("unknown supervisor 'upstart' in TINYO_SUPERVISOR", bad.Err);
        Assert.Equal(2, (await n.Tio(["++", "-net", "testnet", "-u", "admin", "-p", TioNode.Password, "--supervisor", "upstart"])).Code);
        Assert.False(Directory.Exists(n.Root));
    }

    private static bool Alive(SystemdInstance sd, int pid)
    {
        try
        {
            var stat = File.ReadAllText(sd.Inside($"/proc/{pid}/stat"));
            return stat[(stat.LastIndexOf(')') + 2)..][0] is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static async Task<AppInfo> WaitAppAsync(Func<string[], Task<(int Code, string Out, string Err)>> tio, string name, Func<AppInfo, bool> ok, string what)
    {
        var sw = Stopwatch.StartNew();
        string last = "";
        while (sw.ElapsedMilliseconds < 30_000)
        {
            var r = await tio(["ls", "-o", "json"]);
            last = r.Out + r.Err;
            if (r.Code == 0 && JsonSerializer.Deserialize(r.Out, ApiJson.Default.ListAppInfo)!.Find(a => a.Name == name) is { } app && ok(app))
                return app;
            await Task.Delay(200);
        }
        Assert.Fail($"{what}: timed out; last: {last}");
        return null!;
    }
}
