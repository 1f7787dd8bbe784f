using System.Formats.Tar;
using System.Text;
using Tinyo.Rt.Images;
using Tinyo.Rt.Linux;

namespace Tinyo.Rt.Tests.Layers;

/// <summary>
/// Malicious and malformed layers: each fails with an RtException naming the entry and the problem (or, where Docker
/// contains the input, is contained), writes nothing outside the layer directory and leaves no partial directory.
/// </summary>
public class HostileLayerTests
{
    [Fact]
    public async Task AbsolutePathsAreMadeRelativeToTheLayer()
    {
        using var s = new LayerSandbox();
        var sentinel = s.Sentinel;
        var tar = new TarBuilder().File(sentinel, "pwned").File("/etc/passwd-test", "x").Build();
        await s.Unpack(tar);
        Assert.Equal("pwned", File.ReadAllText(s.P(sentinel.TrimStart('/'))));
        Assert.Equal("x", File.ReadAllText(s.P("etc/passwd-test")));
        s.AssertNothingOutside();
    }

    [Theory]
    [InlineData("../outside.txt")]
    [InlineData("../../outside.txt")]
    [InlineData("a/../../outside.txt")]
    [InlineData("./../layers/y")]
    [InlineData("/../outside.txt")]
    public async Task DotDotAboveTheRootIsRejected(string name)
    {
        using var s = new LayerSandbox();
        var e = await s.AssertRejected(new TarBuilder().File("ok", "fine").File(name, "pwned").Build(), "climbs above the layer root");
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public async Task DotDotInsideTheRootIsResolvedLexically()
    {
        using var s = new LayerSandbox();
        await s.Unpack(new TarBuilder().File("a/../b", "b").Build());
        Assert.Equal("b", File.ReadAllText(s.P("b")));
        s.AssertNothingOutside();
    }

    [Fact]
    public async Task WritingThroughASymlinkedParentIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().Symlink("a", s.Root).File("a/outside.txt", "pwned").Build();
        var e = await s.AssertRejected(tar, "parent 'a' is a symlink");
        Assert.Contains("a/outside.txt", e.Message);
    }

    [Fact]
    public async Task WritingThroughARelativeSymlinkedParentIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().Dir("d/").Symlink("d/up", "../../..").File("d/up/outside.txt", "pwned").Build();
        await s.AssertRejected(tar, "parent 'd/up' is a symlink");
    }

    [Fact]
    public async Task SymlinkedParentDeeperInThePathIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().Dir("x/y/").Symlink("x/y/z", "/").Dir("x/y/z/etc/").Build();
        await s.AssertRejected(tar, "parent 'x/y/z' is a symlink");
    }

    [Fact]
    public async Task DirectoryEntryOverASymlinkReplacesTheSymlink()
    {
        // "a" -> root of the sandbox, then a directory entry "a": the symlink is replaced, never followed.
        using var s = new LayerSandbox();
        await s.Unpack(new TarBuilder().Symlink("a", s.Root).Dir("a/", mode: 0x1C0).Build());
        Assert.Equal(Libc.S_IFDIR | 0x1C0u, Fs.Lstat(s.P("a")).Mode);
        s.AssertNothingOutside();
    }

    [Fact]
    public async Task HardlinkOutsideTheLayerIsRejected()
    {
        using var s = new LayerSandbox();
        await s.AssertRejected(new TarBuilder().HardLink("h", "../outside.txt").Build(), "hardlink target '../outside.txt'");
    }

    [Fact]
    public async Task HardlinkToAnAbsoluteHostPathStaysInTheLayer()
    {
        // "/etc/passwd" means the layer's etc/passwd, which does not exist: rejected, the host file is never linked.
        using var s = new LayerSandbox();
        await s.AssertRejected(new TarBuilder().HardLink("h", s.Sentinel).Build(), "does not exist in the layer");
    }

    [Fact]
    public async Task HardlinkThroughASymlinkedParentIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().Symlink("a", s.Root).HardLink("h", "a/outside.txt").Build();
        await s.AssertRejected(tar, "not reachable inside the layer");
    }

    [Fact]
    public async Task HardlinkToASymlinkLinksTheSymlinkItself()
    {
        using var s = new LayerSandbox();
        await s.Unpack(new TarBuilder().Symlink("s", s.Sentinel).HardLink("h", "s").Build());
        var h = Fs.Lstat(s.P("h"));
        Assert.Equal(Libc.S_IFLNK, h.Type);
        Assert.Equal(Fs.Lstat(s.P("s")).Ino, h.Ino);
        Assert.Equal(s.Sentinel, new FileInfo(s.P("h")).LinkTarget);
        s.AssertNothingOutside();
    }

    [Fact]
    public async Task HardlinkToADirectoryIsRejected()
    {
        using var s = new LayerSandbox();
        await s.AssertRejected(new TarBuilder().Dir("d/").HardLink("h", "d").Build(), "is a directory");
    }

    [Fact]
    public async Task HardlinkToItselfIsRejected()
    {
        using var s = new LayerSandbox();
        await s.AssertRejected(new TarBuilder().File("f", "x").HardLink("f", "./f").Build(), "hardlink to itself");
    }

    [Theory]
    [InlineData("../.wh.outside.txt", "climbs above the layer root")]
    [InlineData(".wh..", "whiteout names no file")]
    [InlineData("d/.wh.", "whiteout names no file")]
    public async Task WhiteoutsAimedOutsideAreRejected(string name, string message)
    {
        using var s = new LayerSandbox();
        await s.AssertRejected(new TarBuilder().File(name, "").Build(), message);
    }

    [Fact]
    public async Task WhiteoutThroughASymlinkedParentIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().Symlink("a", s.Root).File("a/.wh.outside.txt", "").Build();
        await s.AssertRejected(tar, "parent 'a' is a symlink");
    }

    [Fact]
    public async Task OpaqueMarkerThroughASymlinkedParentIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().Symlink("a", s.Root).File("a/.wh..wh..opq", "").Build();
        await s.AssertRejected(tar, "parent 'a' is a symlink");
        Assert.Null(Fs.GetXattr(s.Root, "trusted.overlay.opaque"));
    }

    [Fact]
    public async Task FileUnderAFileIsRejected()
    {
        using var s = new LayerSandbox();
        await s.AssertRejected(new TarBuilder().File("f", "x").File("f/g", "y").Build(), "parent 'f' is not a directory");
    }

    [Fact]
    public async Task NonDirectoryCannotReplaceTheRoot()
    {
        using var s = new LayerSandbox();
        await s.AssertRejected(new TarBuilder().Symlink("./", s.Root).Build(), "cannot replace the layer root");
    }

    [Fact]
    public async Task TruncatedGzipIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().File("a", new byte[200_000]).File("b", "b").Build();
        var gz = TarBuilder.Gzip(tar);
        await s.AssertRejected(gz[..(gz.Length / 2)], "", "application/vnd.oci.image.layer.v1.tar+gzip");
    }

    [Fact]
    public async Task TarEndingInsideFileDataIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().File("a", new byte[100_000]).Build();
        var e = await s.AssertRejected(tar[..50_000], "tar stream ends inside the data");
        Assert.Contains("'a'", e.Message);
    }

    [Fact]
    public async Task TarEndingInsideAHeaderIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder(TarEntryFormat.Ustar).File("a", "aaaa").File("b", "bbbb").Build();
        await s.AssertRejected(tar[..(1024 + 200)], "malformed tar header after entry 'a'");
    }

    [Fact]
    public async Task GarbageIsNotATar()
    {
        using var s = new LayerSandbox();
        await s.AssertRejected(Encoding.ASCII.GetBytes(new string('z', 4096)), "not a valid tar stream");
    }

    [Fact]
    public async Task ForeignLayerMediaTypeIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().File("a", "a").Build();
        await s.AssertRejected(TarBuilder.Gzip(tar), "foreign (non-distributable) layer", "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip");
        await s.AssertRejected(tar, "foreign (non-distributable) layer", "application/vnd.oci.image.layer.nondistributable.v1.tar");
    }
}
