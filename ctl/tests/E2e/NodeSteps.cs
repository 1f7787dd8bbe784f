using System.Diagnostics;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Rt;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Images;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>The steps the e2e tests of one node take again and again: apply a statefile, exec a shell line, wait
/// until apps run, and remove what a killed node's runtime root still holds.</summary>
internal static class NodeSteps
{
    public static async Task<(int Code, string Out, string Err)> Apply(TioNode n, string dir, string name, string yaml)
    {
        var file = Path.Combine(dir, name + ".yml");
        await File.WriteAllTextAsync(file, yaml);
        return await n.Tio(["+", file]);
    }
    public static async Task<string> Exec(TioNode n, string app, string script)
    {
        var r = await n.Tio(["exec", app, "--", "sh", "-c", script + " 2>&1"]);
        return r.Out + r.Err;
    }
    public static async Task<List<AppInfo>> WaitRunning(TioNode n, string[] names)
    {
        var sw = Stopwatch.StartNew();
        List<AppInfo> apps = [];
        while (sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            var r = await n.Tio(["ls", "-o", "json"]);
            if (r.Code == 0)
            {
                apps = JsonSerializer.Deserialize(r.Out, ApiJson.Default.ListAppInfo) ?? [];
                if (names.All(x => apps.Any(a => a.Name == x && a.State == "running"))) return [.. apps.Where(a => names.Contains(a.Name))];
            }
            await Task.Delay(200);
        }
        Assert.Fail($"apps not running: {string.Join("; ", apps.Select(a => $"{a.Name} {a.State} {a.Error}"))}\n{n.Log("tinyonode")}");
        return apps;
    }
    public static void RemoveContainers(string rtRoot)
    {
        var root = new RuntimeRoot(rtRoot);
        if (!Directory.Exists(root.Containers)) return;
        var ic = new ImageContainers(root, new RuntimeOptions());
        foreach (var d in Directory.GetDirectories(root.Containers))
        {
            try
            {
                ic.Remove(Path.GetFileName(d), force: true);
            }
            catch (RtException)
            {
            }
        }
    }
}
