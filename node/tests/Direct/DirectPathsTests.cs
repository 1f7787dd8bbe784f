using Tinyo.Api.Statefile;
using Tinyo.Node.Direct;

namespace Tinyo.Node.Tests.Direct;

/// <summary>
/// The node's side of the direct paths against the real kernel (tmpfs mounts): which cluster, what is mounted where,
/// a region's size changed by a re-apply, pruning and stop leaving nothing.
/// </summary>
public sealed class DirectPathsTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("tinyo-directpaths-").FullName;
    private readonly DirectPaths paths;
    private readonly List<string> log = [];

    public DirectPathsTests() => paths = new DirectPaths(root, _ => Task.FromResult<string?>("front"), log.Add);

    private static AppSpec Spec(string yaml) => Statefile.Parse(yaml, "t.yml", null)[0];

    [SkippableFact]
    public async Task Sockets_for_every_app_of_the_cluster_regions_for_those_that_list_them_and_nothing_left_after_stop()
    {
        Skip.If(Environment.UserName != "root", "needs root (tmpfs mounts)");
        var api = Spec("name: api\ncontainer: busybox\nexpose: unix\n");
        var cam = Spec("name: cam\ncontainer: busybox\nresources: {memory: 64m}\nshm: {name: frames, size: 1m}\n");
        var back = Spec("name: other\ncontainer: busybox\nnet: back\n");
        var apiMounts = await paths.PrepareAsync(api, [api, cam, back], default);
        Assert.Equal([(Path.Combine(paths.SocketRoot, "front"), "/run/tinyo/uds")], apiMounts.Select(m => (m.Source, m.Destination)));
        var camMounts = await paths.PrepareAsync(cam, [api, cam, back], default);
        Assert.Contains(camMounts, m => m.Destination == "/dev/shm/frames" && m.Source == Path.Combine(paths.ShmRoot, "front", "frames", "region"));
        await paths.PrepareAsync(back, [api, cam, back], default);
        Assert.True(Directory.Exists(Path.Combine(paths.SocketRoot, "back")));

        // A stale socket of an exposing app goes before it starts again.
        var sock = Path.Combine(paths.SocketRoot, "front", "api.sock");
        File.WriteAllText(sock, "");
        paths.BeforeStart(api);
        Assert.False(File.Exists(sock));

        // A re-apply with another size: made again at the new size when no other app lists the old one…
        File.WriteAllText(Path.Combine(paths.ShmRoot, "front", "frames", "region"), "x"); // an app's truncate: not a new size
        await paths.PrepareAsync(cam, [api, cam, back], default);
        var cam2 = Spec("name: cam\ncontainer: busybox\nresources: {memory: 64m}\nshm: {name: frames, size: 2m}\n");
        await paths.PrepareAsync(cam2, [api, cam2, back], default);
        Assert.Equal(2L << 20, new DriveInfo(Path.Combine(paths.ShmRoot, "front", "frames")).TotalSize);
        // …and refused, naming the other app, while another app still lists the region at its size.
        var viewer = Spec("name: viewer\ncontainer: busybox\nresources: {memory: 64m}\nshm: {name: frames, size: 2m}\n");
        var e = await Assert.ThrowsAsync<NodeException>(() => paths.PrepareAsync(cam, [api, cam, viewer, back], default));
        Assert.Contains("viewer", e.Message);
        Assert.Equal(2L << 20, new DriveInfo(Path.Combine(paths.ShmRoot, "front", "frames")).TotalSize);

        // Prune: the region no app lists goes; then the cluster no app is on.
        await paths.PruneAsync([api, back], default);
        Assert.False(Directory.Exists(Path.Combine(paths.ShmRoot, "front", "frames")));
        Assert.True(Directory.Exists(Path.Combine(paths.SocketRoot, "front")));
        await paths.PruneAsync([back], default);
        Assert.False(Directory.Exists(Path.Combine(paths.SocketRoot, "front")));

        await paths.PrepareAsync(cam, [cam, back], default);
        paths.Stop();
        Assert.Empty(Directory.GetDirectories(paths.SocketRoot));
        Assert.Empty(Directory.GetDirectories(paths.ShmRoot));
        Assert.DoesNotContain(root, File.ReadAllText("/proc/self/mountinfo"));
    }

    [SkippableFact]
    public async Task A_cluster_name_that_is_not_a_path_component_is_an_error_and_nothing_is_made()
    {
        Skip.If(Environment.UserName != "root", "needs root (tmpfs mounts)");
        var bad = new DirectPaths(root, _ => Task.FromResult<string?>("../up"), log.Add);
        var cam = Spec("name: cam\ncontainer: busybox\nresources: {memory: 64m}\nshm: {name: frames, size: 1m}\n");
        var e = await Assert.ThrowsAsync<NodeException>(() => bad.PrepareAsync(cam, [cam], default));
        Assert.Contains("not a valid cluster name", e.Message);
        Assert.False(Directory.Exists(Path.Combine(root, "run", "up")));
        Assert.DoesNotContain(root, File.ReadAllText("/proc/self/mountinfo"));
    }

    public void Dispose()
    {
        paths.Stop();
        foreach (var line in File.ReadAllLines("/proc/self/mountinfo"))
            if (line.Split(' ')[4] is var m && m.StartsWith(root, StringComparison.Ordinal))
                System.Diagnostics.Process.Start("umount", ["-l", m])!.WaitForExit();
        Directory.Delete(root, true);
    }
}
