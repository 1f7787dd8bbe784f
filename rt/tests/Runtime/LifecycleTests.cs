namespace Tinyo.Rt.Tests.Runtime;

/// <summary>Create/start/kill/delete through the library, with the container owned by this process.</summary>
[Collection("containers")]
public sealed class LifecycleTests : IDisposable
{
    private readonly ContainerHarness _h = new();
    public void Dispose() => _h.Dispose();

    [Fact]
    public void KillAllSignalsEveryProcessOfTheContainer()
    {
        using var b = new TestBundle("sh", "-c", "sleep 100 & sleep 100 & wait");
        var rt = _h.Runtime();
        var id = ContainerHarness.NewId("killall");
        _h.Track(id);
        rt.Create(id, b.Write());
        rt.Start(id);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var cg = $"/sys/fs/cgroup/{(Cgroups.CgroupHost.Current.IsV2 ? "" : "pids/")}tinyo/{id}/cgroup.procs";
        while (File.ReadAllLines(cg).Length < 3 && sw.ElapsedMilliseconds < 5000) Thread.Sleep(20);
        Assert.Equal(3, File.ReadAllLines(cg).Length);
        Assert.Equal("running", rt.State(id).Status);
        rt.Kill(id, 9, all: true);
        while (rt.State(id).Status != "stopped" && sw.ElapsedMilliseconds < 10000) Thread.Sleep(20);
        Assert.Equal("stopped", rt.State(id).Status);
        Assert.Throws<RtException>(() => rt.Kill(id, 15));
        rt.Delete(id);
        _h.AssertGone(id, b);
    }

    [Fact]
    public void ExitCodesOfDetachedContainersAreRecordedByTheirReaper()
    {
        using var ok = new TestBundle("sh", "-c", "exit 3");
        using var oom = new TestBundle("tail", "/dev/zero");
        oom.Spec.Linux!.Resources = new Oci.SpecResources { Memory = new Oci.SpecMemory { Limit = 16 << 20 } };
        var rt = _h.Runtime();
        string a = ContainerHarness.NewId("exit"), b = ContainerHarness.NewId("exitoom");
        _h.Track(a);
        _h.Track(b);
        rt.Create(a, ok.Write());
        rt.Create(b, oom.Write());
        Assert.Null(rt.ExitOf(a));
        rt.Start(a);
        rt.Start(b);
        // This test process is the containers' parent, as a subreaper would be once their creator exits.
        var sw = System.Diagnostics.Stopwatch.StartNew();
        int recorded = 0;
        while (recorded < 2 && sw.ElapsedMilliseconds < 10_000) { recorded += rt.ReapExited(); Thread.Sleep(20); }
        Assert.Equal(2, recorded);
        Assert.Equal(new Processes.ExitStatus(3, 0, false), rt.ExitOf(a));
        Assert.Equal(new Processes.ExitStatus(137, 9, true), rt.ExitOf(b));
        Assert.Equal("stopped", rt.State(a).Status);
        rt.Delete(a);
        rt.Delete(b);
        _h.AssertGone(a, ok);
        _h.AssertGone(b, oom);
    }
}
