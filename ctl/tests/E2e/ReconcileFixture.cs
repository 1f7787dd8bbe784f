using System.Diagnostics;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Rt;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// A loopback docker-registry with the busybox test image pushed as <c>library/alpine:latest</c> and
/// <c>library/busybox:latest</c>: with it as the node's registry mirror, the seed's <c>alpine:latest</c> resolves
/// locally, as on an offline host.
/// </summary>
public sealed class MirrorRegistry : IDisposable
{
    public MirrorRegistry()
    {
        Registry = new TestRegistry();
        try
        {
            var img = BusyboxImage.Get();
            Registry.Push(img.Layout, img.Tag, "library/alpine:latest");
            Registry.Push(img.Layout, img.Tag, "library/busybox:latest");
        }
        catch
        {
            Registry.Dispose();
            throw;
        }
    }

    public TestRegistry Registry { get; }

    public string Mirror => $"http://{Registry.Host}";

    public void Dispose() => Registry.Dispose();
}

/// <summary>
/// A node from `tio ++` whose tinyonode uses the mirror; helpers to apply statefiles, read `tio ls -o json` and
/// look at the node's containers through the runtime (ROOT/rt). Dispose: `tio down`, then every container left in
/// ROOT/rt is removed (process, cgroup, dirs) and any secrets tmpfs unmounted, then the root is deleted.
/// </summary>
public sealed class ReconcileNode : IAsyncDisposable
{
    private readonly Dictionary<string, string> env;

    private ReconcileNode(TioNode node, string mirror)
    {
        Node = node;
        env = new Dictionary<string, string> { ["TINYO_REGISTRY_MIRRORS"] = mirror };
        // TINYO_TEST_NODE_BIN: run these tests against another tinyonode (e.g. the NativeAOT one, whose container
        // inits are exec'd from a sealed copy) while tio and tinyokv stay the JIT builds.
        if (Environment.GetEnvironmentVariable("TINYO_TEST_NODE_BIN") is { Length: > 0 } bin) env["TINYO_NODE_BIN"] = bin;
        Rt = new RuntimeRoot(Path.Combine(node.Root, "rt"));
        Containers = new ImageContainers(Rt, new RuntimeOptions());
    }

    public TioNode Node { get; }
    public RuntimeRoot Rt { get; }
    public ImageContainers Containers { get; }

    public static Task<ReconcileNode> UpAsync(MirrorRegistry registry) => UpAsync(registry.Mirror);

    /// <summary>A node whose docker.io mirror is <paramref name="mirror"/> (e.g. a registry that never answers).</summary>
    public static async Task<ReconcileNode> UpAsync(string mirror)
    {
        var n = new ReconcileNode(new TioNode(), mirror);
        try
        {
            await n.UpAgainAsync();
            return n;
        }
        catch
        {
            await n.DisposeAsync();
            throw;
        }
    }

    /// <summary>A node whose root, socket and ports are new and nothing started (for `tio restore`).</summary>
    public static ReconcileNode Fresh(MirrorRegistry registry) => new(new TioNode(), registry.Mirror);

    /// <summary>`tio ++` (again): starts whatever is not running.</summary>
    public async Task UpAgainAsync()
    {
        var r = await Node.Tio(["++", "-net", "testnet", "-u", "admin", "-p", TioNode.Password], extraEnv: env);
        Assert.True(r.Code == 0, $"tio ++ failed ({r.Code}): {r.Out}{r.Err}\n{Node.Log("tinyonode")}\n{Node.Log("tinyokv")}");
    }

    public Task<(int Code, string Out, string Err)> Tio(params string[] args) => Node.Tio(args, extraEnv: env);

    /// <summary>Writes the statefile NAME.yml into the node's dir and applies it; returns tio's output.</summary>
    public async Task<string> ApplyAsync(string name, string yaml)
    {
        var file = Path.Combine(Node.Dir, name + ".yml");
        await File.WriteAllTextAsync(file, yaml);
        var r = await Tio("+", file);
        Assert.True(r.Code == 0, $"tio + {name}: exit {r.Code}: {r.Out}{r.Err}");
        return r.Out;
    }

    public async Task<List<AppInfo>> LsAsync()
    {
        var r = await Tio("ls", "-o", "json");
        Assert.True(r.Code == 0, $"tio ls: exit {r.Code}: {r.Out}{r.Err}");
        return JsonSerializer.Deserialize(r.Out, ApiJson.Default.ListAppInfo)!;
    }

    public async Task<AppInfo?> AppAsync(string name) => (await LsAsync()).Find(a => a.Name == name);

    /// <summary>Polls `tio ls -o json` until <paramref name="ok"/> holds for the app; fails with the node's log.</summary>
    public async Task<AppInfo> WaitAppAsync(string name, Func<AppInfo, bool> ok, string what, int timeoutMs = 30_000)
    {
        var sw = Stopwatch.StartNew();
        AppInfo? last = null;
        while (sw.ElapsedMilliseconds < timeoutMs)
        {
            last = await AppAsync(name);
            if (last is not null && ok(last)) return last;
            await Task.Delay(200);
        }
        Assert.Fail($"{what}: timed out; last: {(last is null ? "absent" : JsonSerializer.Serialize(last, ApiJson.Default.AppInfo))}\n{Node.Log("tinyonode")}");
        return null!;
    }

    public static async Task WaitAsync(Func<bool> ok, string what, int timeoutMs = 20_000)
    {
        var sw = Stopwatch.StartNew();
        while (!ok())
        {
            if (sw.ElapsedMilliseconds > timeoutMs) Assert.Fail($"timed out: {what}");
            await Task.Delay(100);
        }
    }

    /// <summary>The rt container id behind a name, or null.</summary>
    public string? IdOf(string container) => ContainerNames.Lookup(Rt, container);

    public ContainerSummary Summary(string container) => Containers.Summary(IdOf(container) ?? throw new InvalidOperationException($"no container {container}"));

    public string LogOf(string container) => File.ReadAllText(Containers.LogFile(IdOf(container)!));

    /// <summary>Ids of every container in the node's runtime root.</summary>
    public List<string> AllContainerIds() => Directory.Exists(Rt.Containers) ? [.. Directory.GetDirectories(Rt.Containers).Select(d => Path.GetFileName(d))] : [];

    public string SecretsDir => Path.Combine(Node.Root, "run", "secrets");

    public static bool IsMountPoint(string dir)
        => File.ReadLines("/proc/self/mountinfo").Any(l => l.Split(' ') is var f && f.Length > 4 && f[4] == dir);

    /// <summary>Cgroup directories on the host that belong to container <paramref name="id"/>.</summary>
    public static List<string> CgroupsOf(string id)
    {
        var l = new List<string>();
        foreach (var h in Directory.GetDirectories("/sys/fs/cgroup"))
        {
            var d = Path.Combine(h, "tinyo", id);
            if (Directory.Exists(d)) l.Add(d);
        }
        return l;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Node.Tio(["down", "--grace", "10"]);
        }
        catch (Exception)
        {
            // the hard cleanup below
        }
        // Whatever a failed test left: containers (kill, cgroup, dirs), secrets tmpfs mounts.
        foreach (var id in AllContainerIds())
        {
            try
            {
                Containers.Remove(id, force: true);
            }
            catch (Exception)
            {
                // best effort
            }
        }
        if (Directory.Exists(SecretsDir))
            foreach (var d in Directory.GetDirectories(SecretsDir))
                while (IsMountPoint(d) && Umount(d) == 0)
                {
                }
        await Node.DisposeAsync();
    }

    private static int Umount(string d) => Tinyo.Linux.Libc.Umount2(d, Tinyo.Linux.Libc.MNT_DETACH);
}
