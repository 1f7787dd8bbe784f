using System.Diagnostics;
using System.Text.Json;
using Tinyo.Rt.Oci;
using static Tinyo.Linux.Libc;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>Bundles with a new user namespace: root inside is an unprivileged id outside.</summary>
[Collection("containers")]
public sealed class UserNamespaceTests : IDisposable
{
    private const uint HostBase = 100000;
    private readonly ContainerHarness _h = new();
    private readonly string _data;

    public UserNamespaceTests()
    {
        _data = Directory.CreateTempSubdirectory("tinyo-userns-data-").FullName;
        Assert.Equal(0, SysFchownAt(AT_FDCWD_, _data, HostBase, HostBase, 0));
        Assert.Equal(0, SysFchmodAt(AT_FDCWD_, _data, 0x1ED, 0));
    }

    public void Dispose()
    {
        _h.Dispose();
        Directory.Delete(_data, recursive: true);
    }

    /// <summary>A bundle in a user namespace mapping container ids 0-65535 to host 100000-165535. The bundle
    /// directory is opened up (0755): the mapped root must be able to reach the rootfs, as with runc.</summary>
    private TestBundle UserNsBundle(params string[] args)
    {
        var b = new TestBundle(args);
        Assert.Equal(0, SysFchmodAt(AT_FDCWD_, b.Dir, 0x1ED, 0));
        // Host root owns the rootfs: the mapped root cannot create mount points in it, so they exist beforehand.
        Directory.CreateDirectory(Path.Combine(b.Rootfs, "data"));
        b.Spec.Linux!.Namespaces!.Add(new SpecNamespace { Type = "user" });
        b.Spec.Linux.UidMappings = [new SpecIdMapping { ContainerID = 0, HostID = HostBase, Size = 65536 }];
        b.Spec.Linux.GidMappings = [new SpecIdMapping { ContainerID = 0, HostID = HostBase, Size = 65536 }];
        b.Spec.Mounts!.Add(new SpecMount { Destination = "/data", Type = "bind", Source = _data, Options = ["rbind", "rw"] });
        return b;
    }

    [Fact]
    public void RootInside_IsUnprivilegedOutside()
    {
        using var b = UserNsBundle("sh", "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; echo hi > /data/made-inside; stat -c %u /bin/busybox; " +
            "echo x > /dev/null && head -c 4 /dev/zero | wc -c; hostname");
        var (st, output) = _h.Run(b);
        Assert.True(st.Code == 0, output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["0", "100000", "65536"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["0", "100000", "65536"], lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("0", lines[2]); // root in the container
        Assert.Equal("65534", lines[3]); // host root's files belong to nobody in here
        Assert.Equal("4", lines[4].Trim()); // /dev nodes work (bind mounts of the host's)
        Assert.Equal("tinyo", lines[5]);
        // The file root created is owned by the unprivileged host uid.
        var made = Path.Combine(_data, "made-inside");
        Assert.Equal(0, StatxAt(AT_FDCWD_, System.Text.Encoding.UTF8.GetBytes(made + "\0"), 0, out var sx));
        Assert.Equal(HostBase, sx.Uid);
        Assert.Equal(HostBase, sx.Gid);
    }

    [Fact]
    public void HostRootFiles_StayUntouchable()
    {
        // A host-root-owned 0644 file bind-mounted in: container root (host uid 100000) cannot write it.
        var f = Path.Combine(_data, "host-owned");
        File.WriteAllText(f, "host");
        using var b = UserNsBundle("sh", "-c", "echo pwned > /data/host-owned; echo rc=$?");
        var (st, output) = _h.Run(b);
        Assert.Equal(0, st.Code);
        Assert.Contains("rc=1", output);
        Assert.Equal("host", File.ReadAllText(f));
    }

    [Fact]
    public void CreateStart_InUserNamespace()
    {
        using var b = UserNsBundle("sh", "-c", "id -u > /data/started");
        var id = ContainerHarness.NewId("userns");
        _h.Track(id);
        var rt = _h.Runtime();
        int pid = rt.Create(id, b.Write());
        Assert.NotEqual(new FileInfo("/proc/self/ns/user").LinkTarget, new FileInfo($"/proc/{pid}/ns/user").LinkTarget);
        Assert.Contains("100000", File.ReadAllText($"/proc/{pid}/status").Split('\n').First(l => l.StartsWith("Uid:")));
        rt.Start(id);
        var sw = Stopwatch.StartNew();
        while (rt.State(id).Status != "stopped" && sw.ElapsedMilliseconds < 10_000) Thread.Sleep(20);
        Assert.Equal("0\n", File.ReadAllText(Path.Combine(_data, "started")));
        rt.Delete(id);
        _h.AssertGone(id, b);
    }

    [Fact]
    public void Mappings_AreValidated()
    {
        using var b = new TestBundle("true");
        b.Spec.Linux!.Namespaces!.Add(new SpecNamespace { Type = "user" });
        var e = Assert.Throws<RtException>(() => Bundle.FromSpec(b.Dir, JsonSerializer.Deserialize(JsonSerializer.SerializeToUtf8Bytes(b.Spec, OciJson.Default.Spec), OciJson.Default.Spec)!));
        Assert.Contains("needs linux.uidMappings and linux.gidMappings", e.Message);
        b.Spec.Linux.UidMappings = [new SpecIdMapping { ContainerID = 0, HostID = HostBase, Size = 0 }];
        b.Spec.Linux.GidMappings = [new SpecIdMapping { ContainerID = 0, HostID = HostBase, Size = 1 }];
        e = Assert.Throws<RtException>(() => Bundle.FromSpec(b.Dir, b.Spec));
        Assert.Contains("invalid id mapping 0 100000 0", e.Message);
    }
}
