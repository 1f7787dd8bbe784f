using Tinyo.Api;
using Tinyo.Api.Statefile;
using Tinyo.Node.Reconcile;
using Tinyo.Rt.Containers;
using Tinyo.Rt.Images;

namespace Tinyo.Node.Tests;

/// <summary>The reconciler's pure parts: backoff, policies, spec → run options, hashes, mirrors, the status merge.</summary>
public class ReconcileUnitTests
{
    private static AppSpec Spec(string yaml) => Statefile.Parse(yaml, "t.yml", null)[0];

    [Fact]
    public void BackoffDoublesCapsAndResetsAfterARunOfTenSeconds()
    {
        var b = new Backoff();
        var quick = TimeSpan.FromMilliseconds(50);
        Assert.Equal(TimeSpan.FromMilliseconds(100), b.Next(quick));
        Assert.Equal(TimeSpan.FromMilliseconds(200), b.Next(quick));
        Assert.Equal(TimeSpan.FromMilliseconds(400), b.Next(quick));
        for (int i = 0; i < 20; i++) b.Next(quick);
        Assert.Equal(TimeSpan.FromSeconds(30), b.Next(quick));
        Assert.Equal(TimeSpan.FromMilliseconds(100), b.Next(TimeSpan.FromSeconds(10)));
        Assert.Equal(TimeSpan.FromMilliseconds(200), b.Next(quick));
    }

    [Theory]
    [InlineData("always", 0, true)]
    [InlineData("always", 1, true)]
    [InlineData("on-failure", 0, false)]
    [InlineData("on-failure", 137, true)]
    [InlineData("never", 1, false)]
    public void RestartPolicyDecides(string policy, int code, bool restart) => Assert.Equal(restart, RestartPolicy.ShouldRestart(policy, code));

    [Fact]
    public void UnknownExitCodeCountsAsFailure()
    {
        Assert.True(RestartPolicy.ShouldRestart("on-failure", null));
        Assert.False(RestartPolicy.ShouldRestart("never", null));
    }

    [Fact]
    public void ComposeCommandSemantics()
    {
        var cmd = ContainerSpec.For(Spec("container: alpine\ncommand: [\"echo\", \"hi\"]\n"), 1, "h", null, []);
        Assert.Null(cmd.Entrypoint);
        Assert.Equal(["echo", "hi"], cmd.Command);

        // entrypoint replaces Entrypoint and drops the image's Cmd: its first word becomes --entrypoint, the rest args.
        var ep = ContainerSpec.For(Spec("container: alpine\nentrypoint: [\"sh\", \"-c\"]\ncommand: [\"echo x\"]\n"), 2, "h", null, []);
        Assert.Equal("sh", ep.Entrypoint);
        Assert.Equal(["-c", "echo x"], ep.Command);
        Assert.Equal("t-2", ep.Name); // the name defaults to the file's
        Assert.Equal("none", ep.Network);
        Assert.True(ep.Detach);
        Assert.Equal("t", ep.Annotations[ContainerSpec.AppLabel]);
        Assert.Equal("h", ep.Annotations[ContainerSpec.SpecLabel]);
        Assert.Equal("2", ep.Annotations[ContainerSpec.ReplicaLabel]);

    }

    [Fact]
    public void EnvMountsResourcesAndSecrets()
    {
        var s = Spec("""
            container: alpine
            env: { A: "1" }
            mounts:
              - { source: /etc/hosts, target: /h, readonly: true }
              - { source: /tmp, target: /t }
            resources: { memory: 64m, cpus: 0.5, pids: 10 }
            """);
        var o = ContainerSpec.For(s, 1, "h", "/run/x/t-1", ["DB=secret"]);
        Assert.Equal(["A=1", "DB=secret"], o.Env);
        Assert.Equal([new BindMount("/etc/hosts", "/h", true) { CreateSource = true }, new BindMount("/tmp", "/t") { CreateSource = true },
            new BindMount("/run/x/t-1", "/run/secrets", true) { NoExec = true, Trusted = true }], o.Volumes);
        Assert.Equal(64L << 20, o.Memory);
        Assert.Equal(0.5, o.Cpus);
        Assert.Equal(10, o.Pids);
    }

    [Fact]
    public void SpecHashIsStableAndSeesChanges()
    {
        var a = Spec("container: alpine\nenv: { A: \"1\" }\n");
        Assert.Equal(SpecHash.Of(a), SpecHash.Of(Spec("container: alpine\nenv: { A: \"1\" }\n")));
        Assert.NotEqual(SpecHash.Of(a), SpecHash.Of(Spec("container: alpine\nenv: { A: \"2\" }\n")));
        Assert.NotEqual(SpecHash.Of(a), SpecHash.Of(Spec("container: alpine:3\nenv: { A: \"1\" }\n")));
        Assert.Equal(16, SpecHash.Of(a).Length);
    }

    [Theory]
    [InlineData("http://127.0.0.1:5000", "127.0.0.1:5000", true)]
    [InlineData("https://mirror.example", "mirror.example", false)]
    [InlineData("mirror.example:5000", "mirror.example:5000", false)]
    public void MirrorsParse(string text, string host, bool insecure)
    {
        Assert.True(RegistryMirrors.TryParse(text, out var h, out var i));
        Assert.Equal(host, h);
        Assert.Equal(insecure, i);
    }

    [Fact]
    public void BadMirrorIsAClearError()
    {
        Assert.Equal(["http://a:1", "b:2"], RegistryMirrors.Parse("http://a:1, b:2"));
        var e = Assert.Throws<Tinyo.Rt.RtException>(() => RegistryMirrors.Parse("ftp://x"));
        Assert.Contains("invalid registry mirror 'ftp://x'", e.Message);
        Assert.Throws<Tinyo.Rt.RtException>(() => RegistryMirrors.Parse("http://x/path"));
    }

    [Fact]
    public void AppViewMergesStatusOrIsPending()
    {
        var now = DateTimeOffset.UtcNow;
        var rec = new AppRecord(Spec("name: web\ncontainer: alpine\nport: 8080\n"), "t.yml", now, now);
        var pending = AppView.Merge("web", rec, []);
        Assert.Equal("pending", pending.State);
        Assert.Equal(["8080"], pending.Ports);

        var st = new AppStatus("web", "n1", "h", "error", "mount source /x does not exist",
            [new ContainerStatus("web-1", "abc", "restarting", 0, 4, 3, now)], now);
        var other = new AppStatus("webx", "n1", "h", "running", null, [], now);
        var merged = AppView.Merge("web", rec, [("n1/web", st), ("n1/webx", other)]);
        Assert.Equal("error", merged.State);
        Assert.Equal("mount source /x does not exist", merged.Error);
        Assert.Equal(4, merged.Restarts);
        Assert.Equal("web-1", Assert.Single(merged.Containers!).Name);
    }
}
