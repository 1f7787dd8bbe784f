using Tinyo.Rt.Containers;
using Tinyo.Rt.Images;
using Tinyo.Rt.Tests.Runtime;

namespace Tinyo.Rt.Tests.RunImage;

/// <summary>
/// The library as an orchestrator embeds it (tinyonode): annotations on image containers, restart in place of a
/// stopped detached container, and releasing the cgroup of an exited container that is kept.
/// </summary>
// In the containers collection like every class that starts containers: run in parallel, its cgroups appeared under
// /sys/fs/cgroup/*/tinyo during RunImageTests.BadInput_OneLineError_NothingLeft, which fails on any new cgroup.
[Collection("containers")]
public sealed class InProcessRestartTests : IDisposable
{
    private readonly ImageRoot _r = new();

    public void Dispose() => _r.Dispose();

    private ImageContainers Containers()
    {
        var (path, aot) = ContainerHarness.Binary;
        return new ImageContainers(_r.Root, new RuntimeOptions { InitCommand = [path], SealInit = aot });
    }

    private static List<string> Cgroups(string id)
        => [.. Directory.GetDirectories("/sys/fs/cgroup").Select(h => Path.Combine(h, "tinyo", id)).Where(Directory.Exists)];

    [Fact]
    public void AnnotatedContainer_RestartsInPlace_KeepsLogAndUpper_CgroupReleasedWhileExited()
    {
        var ic = Containers();
        var rt = new ContainerRuntime(_r.Root, new RuntimeOptions { InitCommand = [ContainerHarness.Binary.Path], SealInit = ContainerHarness.Binary.Aot });
        var img = new ImageStore(_r.Root).Load(new ImageStore(_r.Root).Find("busybox"));
        var started = ic.Run(new RunOptions
        {
            Image = "busybox", Name = "app-1", Detach = true,
            Command = ["sh", "-c", "echo run; echo x >> /count; cat /count | wc -l"],
            Annotations = new Dictionary<string, string> { ["tinyo.app"] = "app", ["tinyo.spec"] = "abc" },
        }, img);
        var id = started.Id;
        Assert.True(ic.WaitStopped(id, TimeSpan.FromSeconds(20)));
        var state = rt.State(id);
        Assert.Equal("abc", state.Annotations!["tinyo.spec"]);
        Assert.Equal("app-1", ic.Info(id)!.Name);
        if (OperatingSystem.IsLinux())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_r.Root.Containers, id, "config.json")));

        // Reaped (this process is the init's parent) but kept: the empty cgroup stays until released.
        rt.ReapExited();
        Assert.NotEmpty(Cgroups(id));
        rt.ReleaseCgroup(id);
        Assert.Empty(Cgroups(id));

        ic.Restart(id);
        Assert.True(ic.WaitStopped(id, TimeSpan.FromSeconds(20)));
        rt.ReapExited();
        rt.ReleaseCgroup(id);
        Assert.Equal(id, ContainerNames.Lookup(_r.Root, "app-1"));
        // The upper dir survived (the file has two lines now) and the log was appended to.
        Assert.Equal("run\n1\nrun\n2\n", File.ReadAllText(ic.LogFile(id)));
        Assert.Equal(0, rt.ExitOf(id)!.Value.Code);

        var running = Assert.Throws<RtException>(() =>
        {
            var again = ic.Run(new RunOptions { Image = "busybox", Name = "app-2", Detach = true, Command = ["sleep", "100"] }, img);
            try
            {
                ic.Restart(again.Id);
            }
            finally
            {
                ic.Remove(again.Id, force: true);
            }
        });
        Assert.Contains("is running, not stopped", running.Message);
        ic.Remove(id, force: false);
        Assert.Empty(Directory.GetDirectories(_r.Root.Containers));
    }

    [Fact]
    public void ADetachedRunAndARestartTakeTheDirectStartNotInit()
    {
        // What the node does for every replica: no exec FIFO, so no `tinyort init` process and handshake — the clone
        // child execs the program (the span the start records names the back-end it took).
        var ic = Containers();
        var rt = new ContainerRuntime(_r.Root, new RuntimeOptions { InitCommand = [ContainerHarness.Binary.Path], SealInit = ContainerHarness.Binary.Aot });
        var img = new ImageStore(_r.Root).Load(new ImageStore(_r.Root).Find("busybox"));
        Tinyo.Rt.Setup.StartTrace.Enabled = true;
        try
        {
            ImageContainers.Started s;
            using (var trace = Tinyo.Rt.Setup.StartTrace.Begin()!)
            {
                s = ic.Run(new RunOptions { Image = "busybox", Name = "direct-1", Detach = true, Command = ["sh", "-c", "echo up"] }, img);
                trace.Dispose();
                Assert.Contains(trace.Spans(), m => m.What == "clone+exec (direct)");
            }
            Assert.Null(s.Launched);
            Assert.False(File.Exists(Path.Combine(_r.Root.Containers, s.Id, ContainerRecord.FifoName)), "an exec FIFO was made for a started container");
            Assert.True(ic.WaitStopped(s.Id, TimeSpan.FromSeconds(20)));
            Assert.Equal(0, rt.CollectExit(s.Id)!.Value.Code);
            using (var trace = Tinyo.Rt.Setup.StartTrace.Begin()!)
            {
                ic.Restart(s.Id);
                trace.Dispose();
                Assert.Contains(trace.Spans(), m => m.What == "clone+exec (direct)");
            }
            Assert.True(ic.WaitStopped(s.Id, TimeSpan.FromSeconds(20)));
            Assert.Equal(0, rt.CollectExit(s.Id)!.Value.Code);
            Assert.Equal("up\nup\n", File.ReadAllText(ic.LogFile(s.Id)));
            ic.Remove(s.Id, force: true);
        }
        finally { Tinyo.Rt.Setup.StartTrace.Enabled = false; }
        Assert.Empty(Directory.GetDirectories(_r.Root.Containers));
    }
}
