using Tinyo.Rt.Containers;

namespace Tinyo.Rt.Tests.RunImage;

/// <summary>
/// Bind mounts as one structured type (<see cref="BindMount"/>), and their sources: created like Docker's <c>-v</c>
/// when asked (root-owned 0755 directories), never through a symlink, never in a forbidden directory.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class MountSourceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tinyo-mntsrc-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void MissingSource_IsCreated_RootOwned0755_ComponentByComponent()
    {
        var src = Path.Combine(_dir, "a", "b", "c");
        var spec = new BindMount(src, "/config") { CreateSource = true }.ToSpec([]);
        Assert.Equal(src, spec.Source);
        Assert.Equal(["rbind", "rprivate"], spec.Options);
        foreach (var d in new[] { Path.Combine(_dir, "a"), Path.Combine(_dir, "a", "b"), src })
        {
            Assert.True(Directory.Exists(d), d);
            Assert.Equal((UnixFileMode)0x1ED, File.GetUnixFileMode(d));
            Assert.Equal(0, Stat.Uid(d));
        }
    }

    [Fact]
    public void MissingSource_WithoutCreate_IsAClearError_AndNothingIsMade()
    {
        var src = Path.Combine(_dir, "missing");
        var e = Assert.Throws<RtException>(() => new BindMount(src, "/x").ToSpec([]));
        Assert.Equal($"mount source {src} does not exist (target /x)", e.Message);
        Assert.False(Directory.Exists(src));
    }

    [Fact]
    public void Creation_NeverFollowsASymlink()
    {
        var elsewhere = Path.Combine(_dir, "elsewhere");
        Directory.CreateDirectory(elsewhere);
        File.CreateSymbolicLink(Path.Combine(_dir, "link"), elsewhere);
        var e = Assert.Throws<RtException>(() => new BindMount(Path.Combine(_dir, "link", "new"), "/x") { CreateSource = true }.ToSpec([]));
        Assert.Contains("is a symlink or not a directory", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(elsewhere));
    }

    [Fact]
    public void ForbiddenDirectories_AreRefused_ByPathAndByWhereASymlinkLeads()
    {
        var state = Path.Combine(_dir, "node-state");
        Directory.CreateDirectory(Path.Combine(state, "keys"));
        IReadOnlyList<string> forbidden = [state];
        Assert.Contains("the node's own directory", Assert.Throws<RtException>(() => new BindMount(Path.Combine(state, "keys"), "/k").ToSpec(forbidden)).Message);
        // Lexically elsewhere, really inside.
        File.CreateSymbolicLink(Path.Combine(_dir, "innocent"), Path.Combine(state, "keys"));
        Assert.Throws<RtException>(() => new BindMount(Path.Combine(_dir, "innocent"), "/k").ToSpec(forbidden));
        // A parent of the state directory exposes it too; a missing source under it is not created.
        Assert.Throws<RtException>(() => new BindMount(_dir, "/all").ToSpec(forbidden));
        Assert.Throws<RtException>(() => new BindMount(Path.Combine(state, "new"), "/n") { CreateSource = true }.ToSpec(forbidden));
        Assert.False(Directory.Exists(Path.Combine(state, "new")));
        // A sibling whose name merely starts the same is fine.
        Directory.CreateDirectory(state + "-other");
        Assert.Equal(state + "-other", new BindMount(state + "-other", "/o").ToSpec(forbidden).Source);
    }

    [Theory]
    [InlineData("/a:/b", "/a", "/b", false)]
    [InlineData("/a:/b:ro", "/a", "/b", true)]
    [InlineData("/a:/b:rw", "/a", "/b", false)]
    public void Parse_Volume(string v, string src, string dst, bool ro) => Assert.Equal(new BindMount(src, dst, ro), BindMount.Parse(v));

    [Theory]
    [InlineData("rel:/b", "absolute host path")]
    [InlineData("/a:rel", "destination must be an absolute path")]
    [InlineData("/a:/b/../etc", "destination must be an absolute path")]
    [InlineData("/a:/b:rx", "unknown option")]
    [InlineData("/a", "expected SRC:DST")]
    public void Parse_BadVolume_SaysWhy(string v, string why) => Assert.Contains(why, Assert.Throws<RtException>(() => BindMount.Parse(v)).Message);

    [Fact]
    public void NoExec_AddsTheFlags()
        => Assert.Equal(["rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"], new BindMount(_dir, "/run/secrets", true) { NoExec = true }.ToSpec([]).Options!);

    [Fact]
    public void RuntimeOptions_WithStdio_KeepsEverySetting()
    {
        Action<string> warn = _ => { };
        var o = new RuntimeOptions { InitCommand = ["x"], SealInit = false, DirectStart = false, Warn = warn, ConsoleSocket = "/s", Stdin = 5 };
        var c = o.WithStdio(7, 8, 9);
        Assert.False(c.DirectStart); // the field-by-field copies this replaces dropped it
        Assert.False(c.SealInit);
        Assert.Equal(["x"], c.InitCommand!);
        Assert.Same(warn, c.Warn);
        Assert.Equal("/s", c.ConsoleSocket);
        Assert.Equal((7, 8, 9), (c.Stdin, c.Stdout, c.Stderr));
        Assert.Equal(5, o.Stdin);
    }

    private static class Stat
    {
        public static int Uid(string path)
        {
            // stat -c %u: no P/Invoke needed in the test.
            var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
            var s = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return int.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
