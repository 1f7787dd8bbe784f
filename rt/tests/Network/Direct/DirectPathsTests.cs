using System.Diagnostics;
using Tinyo.Rt.Network.Direct;

namespace Tinyo.Rt.Tests.Network.Direct;

/// <summary>
/// Unix sockets by name, shared memory regions and pipes, between stand-ins for containers: processes in their own
/// mount namespace (unshare -m) that see what a container of their cluster sees — their cluster's directory bound at
/// the container path, the host's roots hidden under an empty tmpfs (as pivot_root leaves them out of a container).
/// </summary>
public sealed class DirectPathsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("tinyo-direct-").FullName;
    private readonly List<Process> started = [];
    private string Uds => Path.Combine(dir, "uds");
    private string Shm => Path.Combine(dir, "shm");
    private string View => Path.Combine(dir, "view");

    public DirectPathsTests()
    {
        // The stand-ins hide both roots under a tmpfs, so both must exist even when a test makes no region.
        Directory.CreateDirectory(Uds);
        Directory.CreateDirectory(Shm);
        Directory.CreateDirectory(View);
    }

    private static string? Missing => Environment.UserName != "root" ? "needs root (mount namespaces, tmpfs)" :
        !File.Exists("/usr/bin/unshare") ? "needs unshare (util-linux)" : null;

    /// <summary>A shell in a stand-in container of <paramref name="cluster"/>: its sockets at VIEW/uds, its region
    /// <paramref name="region"/> (if any) at VIEW/shm/NAME, the host roots hidden.</summary>
    private ProcessStartInfo InCluster(string cluster, string script, string? region = null)
    {
        var mounts = $"mount -t tmpfs none '{View}' && mkdir '{View}/uds' '{View}/shm' && mount --bind '{Uds}/{cluster}' '{View}/uds'";
        if (region is not null) mounts += $" && touch '{View}/shm/{region}' && mount --bind '{Shm}/{cluster}/{region}/region' '{View}/shm/{region}'";
        mounts += $" && mount -t tmpfs none '{Uds}' && mount -t tmpfs none '{Shm}'";
        return new ProcessStartInfo("unshare", ["-m", "--propagation", "private", "sh", "-c", $"{mounts} && {script}"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
    }

    private string Run(ProcessStartInfo psi)
    {
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var err = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(30_000), "the stand-in did not finish");
        return (output.Result + err.Result).Trim();
    }

    [SkippableFact]
    [Trait("Category", "Security")]
    public void A_socket_by_name_reaches_its_cluster_only_and_goes_with_the_cluster()
    {
        Skip.If(Missing is not null, Missing);
        Directory.CreateDirectory(View);
        var mounts = DirectInputs.For("one", [], Uds, Shm);
        DirectInputs.For("two", [], Uds, Shm);
        Assert.Equal((Path.Combine(Uds, "one"), "/run/tinyo/uds"), (mounts[0].Source, mounts[0].Destination));
        Assert.Equal("1777", Run(new ProcessStartInfo("stat", ["-c", "%a", Path.Combine(Uds, "one")]) { RedirectStandardOutput = true, RedirectStandardError = true }));

        var server = Process.Start(InCluster("one", $"exec '{DirectScratch.Dnet}' serve unix '{View}/uds/web.sock'"))!;
        started.Add(server);
        Assert.Equal("ready", server.StandardOutput.ReadLine());
        Assert.True(File.Exists(Path.Combine(Uds, "one", "web.sock")), "the socket is not in the cluster's directory on the host");

        Assert.Equal("ok 65536", Run(InCluster("one", $"'{DirectScratch.Dnet}' check unix '{View}/uds/web.sock' 65536")));
        var other = Run(InCluster("two",
            $"'{DirectScratch.Dnet}' check unix '{View}/uds/web.sock' 1024; echo rc=$?; '{DirectScratch.Dnet}' check unix '{Uds}/one/web.sock' 1024; echo rc=$?"));
        Assert.DoesNotContain("ok", other);
        Assert.Equal(2, other.Split("rc=1").Length - 1);
        Assert.Contains("No such file or directory", other);

        server.Kill();
        server.WaitForExit();
        DirectInputs.RemoveCluster("one", Uds, Shm);
        DirectInputs.RemoveCluster("two", Uds, Shm);
        Assert.Empty(Directory.GetFileSystemEntries(Uds));
    }

    [SkippableFact]
    [Trait("Category", "Security")]
    public void A_region_is_shared_in_its_cluster_size_limited_invisible_to_another_and_removed_with_it()
    {
        Skip.If(Missing is not null, Missing);
        Directory.CreateDirectory(View);
        var mounts = DirectInputs.For("one", [new RegionRequest("frames", 1 << 20)], Uds, Shm);
        DirectInputs.For("two", [], Uds, Shm);
        Assert.Contains(mounts, m => m.Destination == "/dev/shm/frames" && m.Source == Path.Combine(Shm, "one", "frames", "region"));
        Assert.Equal(1 << 20, new FileInfo(Path.Combine(Shm, "one", "frames", "region")).Length);
        // Idempotent with the same size; another size for the same name is an error, not a silent resize.
        DirectInputs.For("one", [new RegionRequest("frames", 1 << 20)], Uds, Shm);
        Assert.Contains("not 2097152", Assert.Throws<RtException>(() => DirectInputs.For("one", [new RegionRequest("frames", 2 << 20)], Uds, Shm)).Message);

        var region = $"'{View}/shm/frames'";
        Assert.Equal("", Run(InCluster("one", $"printf hello | dd of={region} bs=1 seek=4096 conv=notrunc status=none", "frames")));
        Assert.Equal("hello", Run(InCluster("one", $"dd if={region} bs=1 skip=4096 count=5 status=none", "frames")));
        // Full: every page of the 1 MiB filled, then one more page past the end has no room.
        var full = Run(InCluster("one", $"dd if=/dev/zero of={region} bs=4096 count=256 conv=notrunc status=none && echo filled && " +
            $"dd if=/dev/zero of={region} bs=4096 seek=256 count=1 conv=notrunc status=none; echo rc=$?", "frames"));
        Assert.Contains("filled", full);
        Assert.Contains("No space left on device", full);
        Assert.Contains("rc=1", full);

        var other = Run(InCluster("two", $"cat {region}; echo rc=$?; cat '{Shm}/one/frames/region'; echo rc=$?"));
        Assert.Equal(2, other.Split("rc=1").Length - 1);
        Assert.DoesNotContain("hello", other);

        DirectInputs.RemoveCluster("one", Uds, Shm);
        DirectInputs.RemoveCluster("two", Uds, Shm);
        Assert.Empty(Directory.GetFileSystemEntries(Shm));
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/mounts"), l => l.Contains(dir, StringComparison.Ordinal));
    }

    [SkippableFact]
    public void A_pipe_joins_a_producer_to_a_consumer_across_a_producer_restart()
    {
        Skip.If(Missing is not null, Missing);
        using var pipe = ContainerPipe.Create();
        // Stand-ins open the node's ends through /proc (the runtime dup2s them into a container's stdio instead).
        string self = $"/proc/{Environment.ProcessId}/fd";
        var consumer = Process.Start(new ProcessStartInfo("sh", ["-c", $"head -c 10 < {self}/{pipe.ReadFd}"]) { RedirectStandardOutput = true })!;
        started.Add(consumer);
        Run(new ProcessStartInfo("sh", ["-c", $"printf first > {self}/{pipe.WriteFd}"]) { RedirectStandardOutput = true, RedirectStandardError = true });
        Thread.Sleep(200); // the first producer is gone; the node's write end keeps the consumer from reading end-of-file
        Assert.False(consumer.HasExited, "the consumer saw end-of-file when its producer exited");
        Run(new ProcessStartInfo("sh", ["-c", $"printf again > {self}/{pipe.WriteFd}"]) { RedirectStandardOutput = true, RedirectStandardError = true });
        Assert.True(consumer.WaitForExit(10_000));
        Assert.Equal("firstagain", consumer.StandardOutput.ReadToEnd());
        Assert.True(Tinyo.Linux.Libc.SysFcntl(pipe.WriteFd, 1032 /* F_GETPIPE_SZ */, 0) >= 64 * 1024);
    }

    public void Dispose()
    {
        foreach (var p in started)
        {
            try { if (!p.HasExited) p.Kill(); p.WaitForExit(5000); } catch (InvalidOperationException) { }
            p.Dispose();
        }
        foreach (var c in new[] { "one", "two" })
        {
            try { DirectInputs.RemoveCluster(c, Uds, Shm); } catch (RtException) { }
        }
        Directory.Delete(dir, true);
    }
}
