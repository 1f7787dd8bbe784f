using System.Text;
using System.Formats.Tar;
using System.Security.Cryptography;
using Tinyo.Rt.Images;
using Tinyo.Linux;

namespace Tinyo.Rt.Tests.Layers;

/// <summary>Normal layers: every feature lands on disk as overlayfs expects it.</summary>
public class LayerUnpackerTests
{
    private static readonly DateTimeOffset T1 = new(2019, 5, 6, 7, 8, 9, TimeSpan.Zero);

    [Fact]
    public async Task RegularFilesDirsModesOwnersAndMtimes()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder()
            .Dir("etc/", mode: 0x1C0, uid: 12, gid: 34, mtime: T1)
            .File("etc/hello", "hi there", mode: 0x1A4, uid: 1000, gid: 1001, mtime: T1)
            .File("usr/bin/su", "#!suid", mode: 0xDED, uid: 0, gid: 0) // 06755
            .Dir("tmp/", mode: 0x3FF) // 01777
            .File("empty", "")
            .Build();
        var d = await s.Unpack(tar);
        Assert.Equal(Digest.Compute(tar), d);

        Assert.Equal("hi there", File.ReadAllText(s.P("etc/hello")));
        var st = Fs.Lstat(s.P("etc/hello"));
        Assert.Equal(Libc.FileSys.S_IFREG | 0x1A4u, st.Mode);
        Assert.Equal(1000u, st.Uid);
        Assert.Equal(1001u, st.Gid);
        Assert.Equal(T1.ToUnixTimeSeconds(), st.Mtime.Sec);

        var etc = Fs.Lstat(s.P("etc"));
        Assert.Equal(Libc.FileSys.S_IFDIR | 0x1C0u, etc.Mode);
        Assert.Equal(12u, etc.Uid);
        Assert.Equal(34u, etc.Gid);
        // Directory mtime is applied after the file was written into it.
        Assert.Equal(T1.ToUnixTimeSeconds(), etc.Mtime.Sec);

        Assert.Equal(Libc.FileSys.S_IFREG | 0xDEDu, Fs.Lstat(s.P("usr/bin/su")).Mode);
        // Implicit parents: 0755 root.
        Assert.Equal(Libc.FileSys.S_IFDIR | 0x1EDu, Fs.Lstat(s.P("usr/bin")).Mode);
        Assert.Equal(Libc.FileSys.S_IFDIR | 0x3FFu, Fs.Lstat(s.P("tmp")).Mode);
        Assert.Equal(0ul, Fs.Lstat(s.P("empty")).Size);
        // Root without a "./" entry: 0755.
        Assert.Equal(Libc.FileSys.S_IFDIR | 0x1EDu, Fs.Lstat(s.Dest).Mode);
        s.AssertNothingOutside();
    }

    [Fact]
    public async Task RootEntryGivesTheLayerRootItsMetadata()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().Dir("./", mode: 0x1E8, uid: 5, gid: 6, mtime: T1).File("./a", "a").Build();
        await s.Unpack(tar);
        var st = Fs.Lstat(s.Dest);
        Assert.Equal(Libc.FileSys.S_IFDIR | 0x1E8u, st.Mode);
        Assert.Equal(5u, st.Uid);
        Assert.Equal(T1.ToUnixTimeSeconds(), st.Mtime.Sec);
    }

    [Fact]
    public async Task SymlinksKeepTargetsOwnerAndMtime()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder()
            .Symlink("bin", "usr/bin", uid: 7, gid: 8)
            .Symlink("abs", "/etc/passwd")
            .Symlink("up", "../../../../outside.txt")
            .Build();
        await s.Unpack(tar);
        Assert.Equal("usr/bin", new FileInfo(s.P("bin")).LinkTarget);
        Assert.Equal("/etc/passwd", new FileInfo(s.P("abs")).LinkTarget);
        Assert.Equal("../../../../outside.txt", new FileInfo(s.P("up")).LinkTarget);
        var st = Fs.Lstat(s.P("bin"));
        Assert.Equal(Libc.FileSys.S_IFLNK, st.Type);
        Assert.Equal(7u, st.Uid);
        Assert.Equal(8u, st.Gid);
        Assert.Equal(TarBuilder.T0.ToUnixTimeSeconds(), st.Mtime.Sec);
        s.AssertNothingOutside();
    }

    [Fact]
    public async Task HardlinksShareTheInode()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().File("a/one", "data", mode: 0x1ED).HardLink("b/two", "a/one").HardLink("three", "/a/one").Build();
        await s.Unpack(tar);
        var one = Fs.Lstat(s.P("a/one"));
        Assert.Equal(one.Ino, Fs.Lstat(s.P("b/two")).Ino);
        Assert.Equal(one.Ino, Fs.Lstat(s.P("three")).Ino);
        Assert.Equal(3u, one.Nlink);
    }

    [Fact]
    public async Task WhiteoutsBecomeOverlayWhiteoutsAndOpaqueDirs()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder()
            .Dir("etc/")
            .File("etc/.wh.motd", "", uid: 33, gid: 44)
            .Dir("var/cache/")
            .File("var/cache/.wh..wh..opq", "")
            .File("var/cache/new", "n")
            .File(".wh..wh.plnk", "") // aufs bookkeeping: skipped
            .File(".wh.gone-dir", "")
            .Build();
        await s.Unpack(tar);
        var wh = Fs.Lstat(s.P("etc/motd"));
        Assert.Equal(Libc.FileSys.S_IFCHR, wh.Type);
        Assert.Equal(0u, wh.RdevMajor);
        Assert.Equal(0u, wh.RdevMinor);
        Assert.Equal((33u, 44u), (wh.Uid, wh.Gid));
        Assert.False(Fs.Exists(s.P("etc/.wh.motd")));
        Assert.Equal(Libc.FileSys.S_IFCHR, Fs.Lstat(s.P("gone-dir")).Type);
        Assert.Equal("y"u8.ToArray(), Fs.GetXattr(s.P("var/cache"), "trusted.overlay.opaque"));
        Assert.False(Fs.Exists(s.P("var/cache/.wh..wh..opq")));
        Assert.False(Fs.Exists(s.P(".wh..wh.plnk")));
        Assert.Null(Fs.GetXattr(s.P("etc"), "trusted.overlay.opaque"));
    }

    [Fact]
    public async Task DeviceNodesAndFifos()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder()
            .Device("dev/null", TarEntryType.CharacterDevice, 1, 3, mode: 0x1B6)
            .Device("dev/loop9", TarEntryType.BlockDevice, 7, 9, mode: 0x180)
            .Device("dev/big", TarEntryType.CharacterDevice, 4095, 1048575)
            .Device("run/fifo", TarEntryType.Fifo, 0, 0, mode: 0x190)
            .Build();
        await s.Unpack(tar);
        var n = Fs.Lstat(s.P("dev/null"));
        Assert.Equal(Libc.FileSys.S_IFCHR | 0x1B6u, n.Mode);
        Assert.Equal((1u, 3u), (n.RdevMajor, n.RdevMinor));
        var l = Fs.Lstat(s.P("dev/loop9"));
        Assert.Equal(Libc.FileSys.S_IFBLK | 0x180u, l.Mode);
        Assert.Equal((7u, 9u), (l.RdevMajor, l.RdevMinor));
        var b = Fs.Lstat(s.P("dev/big"));
        Assert.Equal((4095u, 1048575u), (b.RdevMajor, b.RdevMinor));
        Assert.Equal(Libc.FileSys.S_IFIFO | 0x190u, Fs.Lstat(s.P("run/fifo")).Mode);
    }

    [Fact]
    public async Task PaxXattrsAreApplied()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder()
            .File("bin/tool", "x", mode: 0x1ED, pax: new() { ["SCHILY.xattr.user.origin"] = "layer-test" })
            .Dir("d/", pax: new() { ["SCHILY.xattr.user.dir"] = "yes" })
            .Build();
        await s.Unpack(tar);
        Assert.Equal("layer-test"u8.ToArray(), Fs.GetXattr(s.P("bin/tool"), "user.origin"));
        Assert.Equal("yes"u8.ToArray(), Fs.GetXattr(s.P("d"), "user.dir"));
    }

    [Fact]
    public async Task BinaryCapabilityXattrSurvivesByteForByte()
    {
        // vfs_cap_data v2, effective, permitted = cap_setuid (bit 7: byte 0x80, invalid UTF-8) | cap_net_raw (bit 13).
        byte[] cap = [0x01, 0, 0, 0x02, 0x80, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        byte[] bin = [0xFF, 0xFE, 0x00, 0x80, (byte)'\n', (byte)'='];
        using var s = new LayerSandbox();
        var blob = RawTar.Concat(
            RawTar.Pax(("SCHILY.xattr.security.capability", cap), ("SCHILY.xattr.user.bin", bin), ("SCHILY.xattr.trusted.x", "no"u8.ToArray()),
                ("SCHILY.xattr.security.selinux", "system_u:object_r:bin_t:s0\0"u8.ToArray())),
            RawTar.File("bin/ping", "ELF", mode: "0004755"),
            RawTar.End);
        await s.Unpack(blob);
        Assert.Equal(cap, Fs.GetXattr(s.P("bin/ping"), "security.capability"));
        Assert.Equal(bin, Fs.GetXattr(s.P("bin/ping"), "user.bin"));
        Assert.Null(Fs.GetXattr(s.P("bin/ping"), "trusted.x"));
        Assert.Null(Fs.GetXattr(s.P("bin/ping"), "security.selinux"));
        // The capability was set after chown and chmod, which would have cleared it; setuid survived too.
        Assert.Equal(Libc.FileSys.S_IFREG | 0x9EDu, Fs.Lstat(s.P("bin/ping")).Mode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task XattrsOnASymlinkLabelTheLinkNotItsTarget(bool procFallback)
    {
        byte[] label = [0x73, 0x79, 0x73, 0x80, 0x00];
        using var s = new LayerSandbox();
        var blob = RawTar.Concat(
            RawTar.File("target", "t"),
            RawTar.Pax(("SCHILY.xattr.security.tinyo", label)),
            RawTar.Header("link", '2', linkName: "target"),
            RawTar.End);
        int saved = Libc.SetxattratMissing;
        Libc.SetxattratMissing = procFallback ? 1 : 0;
        try
        {
            await s.Unpack(blob);
        }
        finally
        {
            Libc.SetxattratMissing = saved;
        }
        Assert.Equal(label, Fs.GetXattr(s.P("link"), "security.tinyo"));
        Assert.Null(Fs.GetXattr(s.P("target"), "security.tinyo"));
    }

    [Fact]
    public async Task TrustedXattrsFromTheTarAreDropped()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder()
            .Dir("d/", pax: new() { ["SCHILY.xattr.trusted.overlay.redirect"] = "/etc", ["SCHILY.xattr.trusted.overlay.opaque"] = "y" })
            .Build();
        await s.Unpack(tar);
        Assert.Null(Fs.GetXattr(s.P("d"), "trusted.overlay.redirect"));
        Assert.Null(Fs.GetXattr(s.P("d"), "trusted.overlay.opaque"));
    }

    [Fact]
    public async Task GzipZstdAndPlainGiveTheSameDiffId()
    {
        var tar = new TarBuilder().File("a", "alpha").Dir("b/").File("b/c", new byte[300_000]).Build();
        var expected = Digest.Compute(tar);
        foreach (var (blob, mt) in new[]
        {
            (tar, "application/vnd.oci.image.layer.v1.tar"),
            (TarBuilder.Gzip(tar), "application/vnd.oci.image.layer.v1.tar+gzip"),
            (TarBuilder.Gzip(tar), "application/vnd.docker.image.rootfs.diff.tar.gzip"),
            (TarBuilder.Zstd(tar), "application/vnd.oci.image.layer.v1.tar+zstd"),
            (TarBuilder.Gzip(tar), "application/octet-stream"),
            (TarBuilder.Zstd(tar), "application/octet-stream"),
            (tar, "application/octet-stream"),
            (TarBuilder.Zstd(tar), ""),
        })
        {
            using var s = new LayerSandbox();
            Assert.Equal(expected, await s.Unpack(blob, mt));
            Assert.Equal("alpha", File.ReadAllText(s.P("a")));
            Assert.Equal(300_000, new FileInfo(s.P("b/c")).Length);
        }
    }

    [Fact]
    public async Task MultiMemberGzipIsOneStream()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().File("a", new byte[70_000]).File("b", "bee").Build();
        var blob = RawTar.Concat(TarBuilder.Gzip(tar[..10_240]), TarBuilder.Gzip(tar[10_240..]));
        Assert.Equal(Digest.Compute(tar), await s.Unpack(blob, "application/vnd.oci.image.layer.v1.tar+gzip"));
        Assert.Equal("bee", File.ReadAllText(s.P("b")));
    }

    [Fact]
    public async Task DiffIdIncludesTrailingDataAfterTheEndMarker()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().File("a", "alpha").Build();
        var withTail = RawTar.Concat(tar, new byte[10_240]);
        Assert.Equal(Digest.Compute(withTail), await s.Unpack(TarBuilder.Gzip(withTail), "application/vnd.oci.image.layer.v1.tar+gzip"));
    }

    [Fact]
    public async Task TarWithoutEndMarkerIsAcceptedAsGoAcceptsIt()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder(TarEntryFormat.Ustar).File("a", "alpha").File("b", "beta").BuildWithoutEnd();
        Assert.Equal(Digest.Compute(tar), await s.Unpack(tar));
        Assert.Equal("beta", File.ReadAllText(s.P("b")));
    }

    [Theory]
    [InlineData(TarEntryFormat.Ustar, 4)]
    [InlineData(TarEntryFormat.Ustar, 1000)]   // more than one block: the stream stops 24 bytes into the last one
    [InlineData(TarEntryFormat.Pax, 512)]      // data that fills its blocks: this end is an entry boundary too
    [InlineData(TarEntryFormat.Gnu, 70_000)]
    public async Task TarEndingRightAfterTheLastEntrysDataIsAcceptedAsUmociWritesIt(TarEntryFormat format, int size)
    {
        // umoci 0.4.7 never closes its Go tar writer: its layers stop right after the last entry's data, with neither
        // the padding to 512 bytes nor the end marker. podman accepts them; the diff_id still covers every byte.
        using var s = new LayerSandbox();
        var last = new byte[size];
        for (int i = 0; i < size; i++) last[i] = (byte)('a' + i % 26);
        var full = new TarBuilder(format).File("a", "alpha").Dir("www/").File("www/index.html", last).BuildWithoutEnd();
        int end = Array.FindLastIndex(full, b => b != 0) + 1;
        var tar = full[..end];
        Assert.Equal((size % 512 == 0), tar.Length % 512 == 0);
        Assert.Equal(Digest.Compute(tar), await s.Unpack(tar));
        Assert.Equal(last, File.ReadAllBytes(s.P("www/index.html")));
        Assert.Equal("alpha", File.ReadAllText(s.P("a")));
        // The same stream compressed, as a registry serves it.
        using var z = new LayerSandbox();
        Assert.Equal(Digest.Compute(tar), await z.Unpack(TarBuilder.Gzip(tar), "application/vnd.oci.image.layer.v1.tar+gzip"));
        Assert.Equal(last, File.ReadAllBytes(z.P("www/index.html")));
    }

    [Theory]
    [InlineData("1600000000.123456789", 1600000000L, 123456789u)]
    [InlineData("1600000000.5", 1600000000L, 500000000u)]
    [InlineData("-1.25", -2L, 750000000u)]
    [InlineData("42", 42L, 0u)]
    public async Task PaxMtimesKeepNanoseconds(string mtime, long sec, uint nsec)
    {
        using var s = new LayerSandbox();
        await s.Unpack(RawTar.Concat(RawTar.Pax(("mtime", Encoding.ASCII.GetBytes(mtime))), RawTar.File("f", "x"), RawTar.End));
        var st = Fs.Lstat(s.P("f"));
        Assert.Equal((sec, nsec), (st.Mtime.Sec, st.Mtime.Nsec));
    }

    [Fact]
    public async Task PaxGlobalHeaderIsIgnoredAsGitArchiveWritesIt()
    {
        using var s = new LayerSandbox();
        var g = RawTar.Pax(("comment", "0123456789abcdef"u8.ToArray()));
        g[156] = (byte)'g';
        Encoding.ASCII.GetBytes("pax_global_header\0").CopyTo(g, 0);
        Array.Fill(g, (byte)' ', 148, 8);
        int sum = 0;
        for (int i = 0; i < 512; i++) sum += g[i];
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(g, 148);
        await s.Unpack(RawTar.Concat(g, RawTar.File("a", "after global"), RawTar.End));
        Assert.Equal("after global", File.ReadAllText(s.P("a")));
        Assert.Single(Directory.GetFileSystemEntries(s.Dest));
    }

    [Fact]
    public async Task LongNamesViaPaxAndGnu()
    {
        var longName = string.Join('/', Enumerable.Range(0, 12).Select(i => new string((char)('a' + i), 20))) + "/file";
        foreach (var fmt in new[] { TarEntryFormat.Pax, TarEntryFormat.Gnu })
        {
            using var s = new LayerSandbox();
            var tar = new TarBuilder(fmt).File(longName, "deep").Symlink("link", longName).Build();
            await s.Unpack(tar);
            Assert.Equal("deep", File.ReadAllText(s.P(longName)));
            Assert.Equal(longName, new FileInfo(s.P("link")).LinkTarget);
        }
    }

    [Fact]
    public async Task LaterDuplicateEntriesWin()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder()
            .File("f", "first")
            .File("f", "second", mode: 0x180)
            .Dir("d/", mode: 0x1ED).File("d/keep", "k")
            .Dir("d/", mode: 0x1C0) // dir over dir: contents kept, metadata replaced
            .File("x", "file")
            .Dir("x/") // dir replaces file
            .Dir("y/").File("y/inner", "i")
            .File("y", "now a file") // file replaces dir and its contents
            .Symlink("z", "somewhere")
            .File("z", "file over symlink")
            .File("h", "old").HardLink("h2", "h").File("h", "new") // the hardlink keeps the old inode
            .Build();
        await s.Unpack(tar);
        Assert.Equal("second", File.ReadAllText(s.P("f")));
        Assert.Equal(Libc.FileSys.S_IFREG | 0x180u, Fs.Lstat(s.P("f")).Mode);
        Assert.Equal("k", File.ReadAllText(s.P("d/keep")));
        Assert.Equal(Libc.FileSys.S_IFDIR | 0x1C0u, Fs.Lstat(s.P("d")).Mode);
        Assert.Equal(Libc.FileSys.S_IFDIR, Fs.Lstat(s.P("x")).Type);
        Assert.Equal("now a file", File.ReadAllText(s.P("y")));
        Assert.Equal(Libc.FileSys.S_IFREG, Fs.Lstat(s.P("z")).Type);
        Assert.Equal("file over symlink", File.ReadAllText(s.P("z")));
        Assert.Equal("new", File.ReadAllText(s.P("h")));
        Assert.Equal("old", File.ReadAllText(s.P("h2")));
    }

    [Fact]
    public async Task DeepTreesAndUnreadableDirectoriesAreReplacedAndRemoved()
    {
        using var s = new LayerSandbox();
        var deep = string.Join('/', Enumerable.Repeat("n", 400));
        var tar = new TarBuilder()
            .Dir("locked/", mode: 0).File("locked/inner", "x", mode: 0).Dir("locked/sub/", mode: 0)
            .File($"t/{deep}/leaf", "deep")
            .File("t", "replaces 400 nested directories")
            .Build();
        await s.Unpack(tar);
        Assert.Equal(Libc.FileSys.S_IFDIR, Fs.Lstat(s.P("locked")).Mode);
        Assert.Equal("x", File.ReadAllText(s.P("locked/inner")));
        Assert.Equal(TarBuilder.T0.ToUnixTimeSeconds(), Fs.Lstat(s.P("locked")).Mtime.Sec);
        Assert.Equal("replaces 400 nested directories", File.ReadAllText(s.P("t")));
        LayerUnpacker.DeleteLayer(s.Dest);
        Assert.False(Directory.Exists(s.Dest));
    }

    [Fact]
    public async Task LargeFileRoundTrips()
    {
        using var s = new LayerSandbox();
        var data = RandomNumberGenerator.GetBytes(5 * 1024 * 1024 + 17);
        var tar = new TarBuilder().File("big.bin", data).Build();
        await s.Unpack(TarBuilder.Gzip(tar), "application/vnd.oci.image.layer.v1.tar+gzip");
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(File.ReadAllBytes(s.P("big.bin"))));
    }

    [Fact]
    public async Task ConcurrentUnpacksOfTheSameLayerBothSucceedAndLeaveOneDir()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().Dir("d/").File("d/a", new byte[2_000_000]).File("b", "b").Build();
        var gz = TarBuilder.Gzip(tar);
        var tasks = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            LayerUnpacker.UnpackAsync(new MemoryStream(gz), "application/vnd.oci.image.layer.v1.tar+gzip", s.Dest))).ToArray();
        var digests = await Task.WhenAll(tasks);
        Assert.All(digests, d => Assert.Equal(Digest.Compute(tar), d));
        Assert.Equal("b", File.ReadAllText(s.P("b")));
        Assert.Equal(2_000_000, new FileInfo(s.P("d/a")).Length);
        s.AssertNothingOutside();
    }

    [Fact]
    public async Task DestinationAlreadyThereIsLeftAloneAndTheDiffIdStillReturned()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().File("a", "new").Build();
        Directory.CreateDirectory(s.Dest);
        File.WriteAllText(s.P("a"), "old");
        Assert.Equal(Digest.Compute(tar), await s.Unpack(tar));
        Assert.Equal("old", File.ReadAllText(s.P("a")));
        s.AssertNothingOutside();
    }

    [Fact]
    public async Task DestinationThatIsAFileIsAnError()
    {
        using var s = new LayerSandbox();
        File.WriteAllText(s.Dest, "not a dir");
        var e = await Assert.ThrowsAnyAsync<RtException>(() => s.Unpack(new TarBuilder().File("a", "a").Build()));
        Assert.Contains("is not a directory", e.Message);
        Assert.Equal(["x"], Directory.GetFileSystemEntries(s.Layers).Select(Path.GetFileName));
    }

    [Fact]
    public async Task CancellationRemovesThePartialDirectory()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder();
        for (int i = 0; i < 50; i++) tar.File($"f{i}", new byte[100_000]);
        using var cts = new CancellationTokenSource();
        var stream = new CancelAfterStream(new MemoryStream(tar.Build()), 1_000_000, cts);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            LayerUnpacker.UnpackAsync(stream, "application/vnd.oci.image.layer.v1.tar", s.Dest, cts.Token));
        Assert.False(Directory.Exists(s.Dest));
        s.AssertNothingOutside();
    }

    private sealed class CancelAfterStream(Stream inner, long after, CancellationTokenSource cts) : Tinyo.Rt.Images.ReadOnlyStream
    {
        private long _read;
        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            if ((_read += n) > after) cts.Cancel();
            return n;
        }
    }
}
