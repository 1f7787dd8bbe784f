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
}
