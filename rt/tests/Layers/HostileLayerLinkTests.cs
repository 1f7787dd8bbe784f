using System.Formats.Tar;
using Tinyo.Linux;

namespace Tinyo.Rt.Tests.Layers;

/// <summary>
/// The malicious-layer list's remaining cases, aimed at real host files: hardlinks to <c>/etc/shadow</c>, symlink
/// chains written through, and setuid files, device nodes and metadata-only entries landing on a name that is a
/// symlink to a host file (an unpacker that chmods, chowns or opens by path would change the host file).
/// </summary>
[Trait("Category", "Security")]
public class HostileLayerLinkTests
{
    private static (ulong Ino, uint Nlink, uint Mode, DateTime Mtime) Witness(string path)
    {
        var st = Fs.Lstat(path);
        return (st.Ino, st.Nlink, st.Mode, File.GetLastWriteTimeUtc(path));
    }

    [Theory]
    [InlineData("/etc/shadow", "does not exist in the layer")]
    [InlineData("etc/shadow", "does not exist in the layer")]
    [InlineData("../../../../../../../../etc/shadow", "climbs above the layer root")]
    public async Task HardlinkToEtcShadowNeverLinksTheHostFile(string target, string message)
    {
        // Root can hardlink any file: a layer that got /etc/shadow linked in would let the container read and rewrite
        // the host's password hashes through its own rootfs.
        Assert.True(File.Exists("/etc/shadow"), "the test needs the host's /etc/shadow");
        var before = Witness("/etc/shadow");
        using var s = new LayerSandbox();
        await s.AssertRejected(new TarBuilder().Dir("etc/").HardLink("etc/shadow-copy", target).Build(), message);
        Assert.Equal(before, Witness("/etc/shadow"));
    }

    [Fact]
    public async Task HardlinkToEtcShadowThroughASymlinkedDirectoryIsRejected()
    {
        // "etc" -> /etc, then a hardlink to "etc/shadow": resolving the target must not follow the layer's symlink.
        var before = Witness("/etc/shadow");
        using var s = new LayerSandbox();
        var tar = new TarBuilder().Symlink("etc", "/etc").HardLink("shadow", "etc/shadow").Build();
        await s.AssertRejected(tar, "not reachable inside the layer");
        Assert.Equal(before, Witness("/etc/shadow"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task WritingThroughASymlinkChainIsRejected(bool relative)
    {
        // a -> b -> c -> (the sandbox root, absolutely or by climbing): each link alone looks harmless, the chain
        // leads out; a file written through the first link must be refused, not land next to the sentinel.
        using var s = new LayerSandbox();
        var tar = new TarBuilder()
            .Dir("d/")
            .Symlink("d/a", "b").Symlink("d/b", "c").Symlink("d/c", relative ? "../../.." : s.Root)
            .File("d/a/outside.txt", "pwned").Build();
        await s.AssertRejected(tar, "parent 'd/a' is a symlink");
    }

    [Fact]
    public async Task HardlinkThroughASymlinkChainIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().Symlink("a", "b").Symlink("b", s.Root).HardLink("h", "a/outside.txt").Build();
        await s.AssertRejected(tar, "not reachable inside the layer");
    }

    [Fact]
    public async Task SymlinkChainsAreKeptAsLinksNeverFollowed()
    {
        // A chain that only *ends* outside is legal content (resolved inside the container's root at run time):
        // it is stored verbatim and nothing on the host changes.
        using var s = new LayerSandbox();
        await s.Unpack(new TarBuilder().Symlink("a", "b").Symlink("b", "c").Symlink("c", s.Sentinel).Build());
        Assert.Equal("b", new FileInfo(s.P("a")).LinkTarget);
        Assert.Equal(s.Sentinel, new FileInfo(s.P("c")).LinkTarget);
        s.AssertNothingOutside();
    }

    [Fact]
    public async Task SetuidFileOverASymlinkToAHostFileReplacesTheLink()
    {
        // "s" -> the host sentinel, then a setuid-root file "s": a chmod/chown/open by path would make the host file
        // setuid root or overwrite it. The link must be replaced and the host file keep its mode and content.
        using var s = new LayerSandbox();
        var mode = Fs.Lstat(s.Sentinel).Mode;
        await s.Unpack(new TarBuilder().Symlink("s", s.Sentinel).File("s", "#!suid", mode: 0xDED /* 06755 */, uid: 0, gid: 0).Build());
        var st = Fs.Lstat(s.P("s"));
        Assert.Equal(Libc.FileSys.S_IFREG, st.Type);
        Assert.Equal(0xDEDu, (uint)(st.Mode & 0xFFF)); // setuid kept inside the layer (no_new_privs stops it in the container)
        Assert.Equal(mode, Fs.Lstat(s.Sentinel).Mode);
        s.AssertNothingOutside();
    }

    [Fact]
    public async Task DeviceNodeOverASymlinkToAHostFileReplacesTheLink()
    {
        using var s = new LayerSandbox();
        await s.Unpack(new TarBuilder().Symlink("sda", s.Sentinel).Device("sda", TarEntryType.BlockDevice, 8, 0, mode: 0x1B6).Build());
        Assert.Equal(Libc.FileSys.S_IFBLK, Fs.Lstat(s.P("sda")).Type);
        Assert.Equal(Libc.FileSys.S_IFREG, Fs.Lstat(s.Sentinel).Type);
        s.AssertNothingOutside();
    }

    [Fact]
    public async Task DirectoryMetadataOverASymlinkNeverChmodsTheTarget()
    {
        // A directory entry whose name is a symlink to a host directory, with a world-writable setgid mode: the
        // host directory must keep its mode (the link is replaced by a real directory).
        using var s = new LayerSandbox();
        var hostDir = Path.Combine(s.Layers, "..", "hostdir");
        Directory.CreateDirectory(hostDir);
        try
        {
            var mode = Fs.Lstat(hostDir).Mode;
            await s.Unpack(new TarBuilder().Symlink("d", hostDir).Dir("d/", mode: 0xFFF).Build());
            Assert.Equal(Libc.FileSys.S_IFDIR, Fs.Lstat(s.P("d")).Type);
            Assert.Equal(mode, Fs.Lstat(hostDir).Mode);
            Assert.Empty(Directory.GetFileSystemEntries(hostDir));
        }
        finally { Directory.Delete(hostDir); }
        s.AssertNothingOutside();
    }

    [Fact]
    public async Task DuplicateFileEntryDoesNotWriteThroughAnEarlierHardlink()
    {
        // "h" is a hardlink to "victim"; a later regular file "h" must replace the name, not truncate and rewrite
        // the shared inode (which would change "victim" too — with a host file that would be an overwrite).
        using var s = new LayerSandbox();
        await s.Unpack(new TarBuilder().File("victim", "original").HardLink("h", "victim").File("h", "replaced").Build());
        Assert.Equal("original", File.ReadAllText(s.P("victim")));
        Assert.Equal("replaced", File.ReadAllText(s.P("h")));
        Assert.NotEqual(Fs.Lstat(s.P("victim")).Ino, Fs.Lstat(s.P("h")).Ino);
        s.AssertNothingOutside();
    }
}
