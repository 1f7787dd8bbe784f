using Tinyo.Rt.Oci;

namespace Tinyo.Rt.Tests.Runtime;

/// <summary>Bad bundles and ids: one clear error naming the problem, and nothing left behind.</summary>
[Collection("containers")]
public sealed class BadInputTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    private RtException Fails(TestBundle b, bool write = true)
    {
        var id = ContainerHarness.NewId("bad");
        _h.Track(id);
        var dir = write ? b.Write() : b.Dir;
        var e = Assert.Throws<RtException>(() => _h.Runtime().Run(id, dir));
        _h.AssertGone(id, b);
        return e;
    }

    [Fact]
    public void InvalidJsonIsNamed()
    {
        using var b = new TestBundle("true");
        File.WriteAllText(Path.Combine(b.Dir, "config.json"), "{\"process\": {\"args\": [\"true\"], }, oops");
        Assert.Contains("config.json: invalid JSON", Fails(b, write: false).Message);
    }

    [Fact]
    public void MissingConfigIsNamed()
    {
        using var b = new TestBundle("true");
        Assert.Contains("config.json not found", Fails(b, write: false).Message);
    }

    [Fact]
    public void MissingRootfsIsNamed()
    {
        using var b = new TestBundle("true");
        b.Spec.Root!.Path = "no-such-rootfs";
        Assert.Contains("no-such-rootfs does not exist", Fails(b).Message);
    }

    [Fact]
    public void MissingBindSourceIsNamed()
    {
        using var b = new TestBundle("true");
        b.Spec.Mounts!.Add(new SpecMount { Destination = "/data", Type = "bind", Source = "/no/such/dir", Options = ["rbind"] });
        Assert.Contains("bind mount source /no/such/dir does not exist", Fails(b).Message);
    }

    [Fact]
    public void MissingExecutableFailsInInitAndLeavesNothing()
    {
        using var b = new TestBundle("no-such-program", "arg");
        Assert.Contains("executable \"no-such-program\" not found", Fails(b).Message);
    }

    [Fact]
    public void ExecFailureIsReportedAndLeavesNothing()
    {
        using var b = new TestBundle("/etc/not-a-program");
        File.WriteAllText(Path.Combine(b.Rootfs, "etc", "not-a-program"), "data");
        Assert.Contains("exec /etc/not-a-program: Permission denied", Fails(b).Message);
    }

    [Fact]
    public void UnsupportedAndUnknownSettingsAreNamed()
    {
        using (var b = new TestBundle("true"))
        {
            b.Spec.Process!.Terminal = true;
            Assert.Contains("process.terminal", Fails(b).Message);
        }
        using (var b = new TestBundle("true"))
        {
            b.Spec.Linux!.Namespaces!.Add(new SpecNamespace { Type = "user" });
            Assert.Contains("a user namespace needs linux.uidMappings and linux.gidMappings", Fails(b).Message);
        }
        using (var b = new TestBundle("true"))
        {
            b.Spec.Process!.Capabilities!.Effective!.Add("CAP_MAKE_COFFEE");
            Assert.Contains("unknown capability \"CAP_MAKE_COFFEE\"", Fails(b).Message);
        }
        using (var b = new TestBundle("true"))
        {
            b.Spec.Process!.Rlimits = [new SpecRlimit { Type = "RLIMIT_BOGUS" }];
            Assert.Contains("RLIMIT_BOGUS", Fails(b).Message);
        }
        using (var b = new TestBundle("true"))
        {
            // No mount namespace is allowed (the host's is shared: NamespaceJoinTests); a missing namespace file is not.
            b.Spec.Linux!.Namespaces!.Find(n => n.Type == "network")!.Path = "/run/netns/tinyo-no-such-netns";
            Assert.Contains("namespace path /run/netns/tinyo-no-such-netns does not exist", Fails(b).Message);
        }
        using (var b = new TestBundle("true"))
        {
            b.Spec.Linux!.Sysctl = new() { ["vm.overcommit_memory"] = "1" };
            Assert.Contains("would change the host", Fails(b).Message);
        }
        using (var b = new TestBundle("true"))
        {
            b.Spec.Linux!.Namespaces!.RemoveAll(n => n.Type == "network");
            b.Spec.Linux.Sysctl = new() { ["net.ipv4.ip_forward"] = "1" };
            Assert.Contains("\"net.ipv4.ip_forward\" is not namespaced", Fails(b).Message);
        }
        using (var b = new TestBundle("true"))
        {
            b.Spec.Linux!.CgroupsPath = "system.slice:tinyo:x";
            Assert.Contains("systemd", Fails(b).Message);
        }
        using (var b = new TestBundle("true"))
        {
            b.Spec.Linux!.CgroupsPath = "/tinyo/../../escape";
            Assert.Contains("must not contain", Fails(b).Message);
        }
    }

    [Fact]
    public void InvalidMountTargetFailsInInitAndLeavesNothing()
    {
        using var b = new TestBundle("true");
        // A file where a directory is needed: the mount fails inside init, after namespaces and cgroup exist.
        File.WriteAllText(Path.Combine(b.Rootfs, "afile"), "x");
        b.Spec.Mounts!.Add(new SpecMount { Destination = "/afile/sub", Type = "tmpfs", Source = "tmpfs" });
        Assert.Contains("/afile/sub", Fails(b).Message);
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("a/b")]
    [InlineData(".hidden")]
    [InlineData("")]
    public void InvalidIdsAreRejected(string id)
    {
        using var b = new TestBundle("true");
        var e = Assert.Throws<RtException>(() => _h.Runtime().Run(id, b.Write()));
        Assert.Contains("container id", e.Message);
        Assert.Empty(Directory.Exists(_h.Root.Containers) ? Directory.GetFileSystemEntries(_h.Root.Containers) : []);
    }

    [Fact]
    public void AnInterruptedCreateCanBeForceDeleted()
    {
        var id = ContainerHarness.NewId("half");
        Directory.CreateDirectory(Path.Combine(_h.Root.Containers, id));
        var rt = _h.Runtime();
        Assert.Contains("incomplete", Assert.Throws<RtException>(() => rt.Delete(id)).Message);
        rt.Delete(id, force: true);
        _h.AssertGone(id);
    }

    [Fact]
    public void DuplicateIdIsRejectedAndTheFirstContainerIsUntouched()
    {
        using var b = new TestBundle("sleep", "30");
        var rt = _h.Runtime();
        var id = ContainerHarness.NewId("dup");
        _h.Track(id);
        int pid = rt.Create(id, b.Write());
        var e = Assert.Throws<RtException>(() => rt.Create(id, b.Dir));
        Assert.Contains("already exists", e.Message);
        var s = rt.State(id);
        Assert.Equal("created", s.Status);
        Assert.Equal(pid, s.Pid);
        rt.Delete(id, force: true);
        _h.AssertGone(id, b);
    }
}
