using System.Formats.Tar;
using System.Text;
using Tinyo.Rt.Images;
using Tinyo.Linux;

namespace Tinyo.Rt.Tests.Layers;

/// <summary>
/// Malicious and malformed layers: each fails with an RtException naming the entry and the problem (or, where Docker
/// contains the input, is contained), writes nothing outside the layer directory and leaves no partial directory.
/// </summary>
[Trait("Category", "Security")]
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
        Assert.Equal(Libc.FileSys.S_IFDIR | 0x1C0u, Fs.Lstat(s.P("a")).Mode);
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
        Assert.Equal(Libc.FileSys.S_IFLNK, h.Type);
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
        // GZipStream reports a cut-off deflate stream as a plain end of stream; the tar then ends early.
        await s.AssertRejected(gz[..(gz.Length / 2)], "tar stream ends inside the data", "application/vnd.oci.image.layer.v1.tar+gzip");
    }

    [Fact]
    public async Task TruncatedZstdIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().File("a", System.Security.Cryptography.RandomNumberGenerator.GetBytes(200_000)).File("b", "b").Build();
        var zst = TarBuilder.Zstd(tar);
        await s.AssertRejected(zst[..(zst.Length - 100)], "not a valid zstd stream", "application/vnd.oci.image.layer.v1.tar+zstd");
    }

    [Fact]
    public async Task CorruptGzipIsRejected()
    {
        using var s = new LayerSandbox();
        var gz = TarBuilder.Gzip(new TarBuilder().File("a", System.Security.Cryptography.RandomNumberGenerator.GetBytes(100_000)).Build());
        for (int i = 20; i < 60; i++) gz[i] ^= 0x5A;
        await s.AssertRejected(gz, "not a valid gzip stream", "application/octet-stream");
    }

    [Fact]
    public async Task OtherCompressionsAreRejected()
    {
        using var s = new LayerSandbox();
        await s.AssertRejected([0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0, 1, 2], "xz-compressed", "application/octet-stream");
        await s.AssertRejected("BZh91AY&SY"u8.ToArray(), "bzip2-compressed", "");
        await s.AssertRejected(new byte[10], "encrypted layer", "application/vnd.oci.image.layer.v1.tar+gzip+encrypted");
    }

    [Fact]
    public async Task EmptyBlobIsAnEmptyLayerAsInDocker()
    {
        using var s = new LayerSandbox();
        Assert.Equal(Digest.Compute([]), await s.Unpack([]));
        Assert.Empty(Directory.GetFileSystemEntries(s.Dest));
    }

    [Fact]
    public async Task StreamEndingInsidePaddingIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder(TarEntryFormat.Ustar).File("a", "alpha").BuildWithoutEnd();
        await s.AssertRejected(tar[..(512 + 100)], "tar stream ends inside a header after entry 'a'");
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
    public async Task TarEndingOneByteShortOfTheLastEntrysDataIsRejected()
    {
        // The end right after the data is accepted (umoci's layers); one byte earlier the entry is incomplete.
        using var s = new LayerSandbox();
        var tar = new TarBuilder(TarEntryFormat.Ustar).File("a", "alpha").File("b", "beta").BuildWithoutEnd();
        var e = await s.AssertRejected(tar[..(512 * 3 + 3)], "tar stream ends inside the data");
        Assert.Contains("'b'", e.Message);
    }

    [Fact]
    public async Task TarEndingAfterAHeaderWithoutItsDataIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder(TarEntryFormat.Ustar).File("a", "alpha").File("b", "beta").BuildWithoutEnd();
        await s.AssertRejected(tar[..(512 * 3)], "tar stream ends inside the data");
    }

    [Fact]
    public async Task TarEndingInsideAPaxHeaderAfterACompleteEntryIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder(TarEntryFormat.Ustar).File("a", "alpha").BuildWithoutEnd();
        // A's data ends at 517; then a PAX header block and half of its records.
        var cut = RawTar.Concat(tar[..517], new byte[512 - 5], RawTar.Pax(("path", Encoding.ASCII.GetBytes(new string('p', 300)))))[..(1024 + 600)];
        await s.AssertRejected(cut, "tar stream ends inside a header after entry 'a'");
    }

    [Fact]
    public async Task TarEndingInsideAHeaderIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder(TarEntryFormat.Ustar).File("a", "aaaa").File("b", "bbbb").Build();
        await s.AssertRejected(tar[..(1024 + 200)], "tar stream ends inside a header after entry 'a'");
    }

    [Fact]
    public async Task GarbageIsNotATar()
    {
        using var s = new LayerSandbox();
        await s.AssertRejected(Encoding.ASCII.GetBytes(new string('z', 4096)), "not a valid tar stream");
    }

    [Fact]
    public async Task BadChecksumIsRejected()
    {
        using var s = new LayerSandbox();
        var blob = RawTar.Concat(RawTar.Header("a", '0', checksum: "0001234\0"), RawTar.End);
        await s.AssertRejected(blob, "checksum mismatch");
    }

    [Fact]
    public async Task CorruptHeaderAfterAGoodEntryNamesThePreviousEntry()
    {
        using var s = new LayerSandbox();
        var bad = RawTar.Header("b", '0');
        bad[0] ^= 0x20; // flips a name byte, checksum no longer matches
        var blob = RawTar.Concat(RawTar.File("a", "aaaa"), bad, RawTar.End);
        var e = await s.AssertRejected(blob, "checksum mismatch");
        Assert.Contains("after entry 'a'", e.Message);
        Assert.Contains("offset 1024", e.Message);
    }

    [Theory]
    [InlineData('x')]
    [InlineData('L')]
    [InlineData('K')]
    [InlineData('g')]
    public async Task OversizedMetadataBlocksAreRejectedBeforeAllocation(char type)
    {
        using var s = new LayerSandbox();
        var blob = RawTar.Concat(RawTar.Header("meta", type, size: "17777777777"), new byte[4096], RawTar.End);
        await s.AssertRejected(blob, "metadata block of type '" + type + "' claims 2147483647 bytes");
    }

    [Fact]
    public async Task NegativeBase256SizeIsRejected()
    {
        using var s = new LayerSandbox();
        var size = Enumerable.Repeat((byte)0xFF, 12).ToArray();
        await s.AssertRejected(RawTar.Concat(RawTar.Header("a", '0', sizeBytes: size), RawTar.End), "negative size");
    }

    [Fact]
    public async Task OverflowingBase256SizeIsRejected()
    {
        using var s = new LayerSandbox();
        var size = new byte[12];
        size[0] = 0x80;
        size[1] = 0x7F;
        for (int i = 2; i < 12; i++) size[i] = 0xFF;
        await s.AssertRejected(RawTar.Concat(RawTar.Header("a", '0', sizeBytes: size), RawTar.End), "size overflows");
    }

    [Fact]
    public async Task MalformedSizeFieldIsRejected()
    {
        using var s = new LayerSandbox();
        await s.AssertRejected(RawTar.Concat(RawTar.Header("a", '0', size: "12x45"), RawTar.End), "malformed size field");
    }

    [Fact]
    public async Task HugeFileSizeWithShortDataIsRejected()
    {
        using var s = new LayerSandbox();
        var blob = RawTar.Concat(RawTar.Header("big", '0', size: "77777777777"), new byte[2048]);
        await s.AssertRejected(blob, "tar stream ends inside the data");
    }

    [Fact]
    public async Task DirectoryWithADataSectionIsRejected()
    {
        using var s = new LayerSandbox();
        var blob = RawTar.Concat(RawTar.Header("d/", '5', size: "00000001000"), new byte[512], RawTar.End);
        await s.AssertRejected(blob, "not a valid tar stream");
    }

    [Theory]
    [InlineData("path", "../../outside.txt", "climbs above the layer root")]
    [InlineData("path", "a\0b", "NUL byte")]
    [InlineData("size", "-5", "not a valid tar stream")]
    [InlineData("uid", "-1", "negative uid")]
    public async Task PaxOverridesAreCheckedLikeHeaders(string key, string value, string message)
    {
        using var s = new LayerSandbox();
        var blob = RawTar.Concat(RawTar.Pax((key, Encoding.UTF8.GetBytes(value.Replace("\\0", "\0")))), RawTar.File("plain", "data"), RawTar.End);
        await s.AssertRejected(blob, message);
    }

    [Fact]
    public async Task PaxLinkpathOutsideIsRejected()
    {
        using var s = new LayerSandbox();
        var blob = RawTar.Concat(RawTar.Pax(("linkpath", "../../outside.txt"u8.ToArray())), RawTar.Header("h", '1', linkName: "ok"), RawTar.End);
        await s.AssertRejected(blob, "hardlink target '../../outside.txt'");
    }

    [Fact]
    public async Task MalformedPaxRecordIsRejected()
    {
        using var s = new LayerSandbox();
        var body = RawTar.Padded("99 path=x\n"u8.ToArray());
        var blob = RawTar.Concat(RawTar.Header("PaxHeaders/x", 'x', size: "00000000012"), body, RawTar.File("f", "d"), RawTar.End);
        await s.AssertRejected(blob, "not a valid tar stream");
    }

    [Fact]
    public async Task GnuLongNameWithDotDotIsRejected()
    {
        using var s = new LayerSandbox();
        var name = string.Concat(Enumerable.Repeat("../", 40)) + "outside.txt";
        var tar = new TarBuilder(TarEntryFormat.Gnu).File(name, "pwned").Build();
        await s.AssertRejected(tar, "climbs above the layer root");
    }

    [Fact]
    public async Task UstarPrefixWithDotDotIsRejected()
    {
        using var s = new LayerSandbox();
        var h = RawTar.Header("outside.txt", '0', size: "00000000005");
        Encoding.ASCII.GetBytes("../..").CopyTo(h, 345); // prefix field
        Array.Fill(h, (byte)' ', 148, 8);
        int sum = h.Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(h, 148);
        await s.AssertRejected(RawTar.Concat(h, RawTar.Padded("pwned"u8.ToArray()), RawTar.End), "climbs above the layer root");
    }

    [Fact]
    public async Task OverlongPathsAreRejected()
    {
        using var s = new LayerSandbox();
        await s.AssertRejected(new TarBuilder().File(new string('n', 256), "x").Build(), "longer than 255 bytes");
        var deep = string.Join('/', Enumerable.Repeat(new string('d', 200), 25));
        await s.AssertRejected(new TarBuilder().File(deep, "x").Build(), "path longer than 4095 bytes");
    }

    [Fact]
    public async Task UnknownAndSparseEntryTypesAreRejected()
    {
        using var s = new LayerSandbox();
        await s.AssertRejected(RawTar.Concat(RawTar.Header("weird", 'Z'), RawTar.End), "unsupported tar entry type 'Z'");
        await s.AssertRejected(RawTar.Concat(RawTar.Header("sparse", 'S', magic: "ustar ", version: " \0"), RawTar.End), "");
        var blob = RawTar.Concat(RawTar.Pax(("GNU.sparse.major", "1"u8.ToArray()), ("GNU.sparse.minor", "0"u8.ToArray()),
            ("GNU.sparse.name", "f"u8.ToArray()), ("GNU.sparse.realsize", "10"u8.ToArray())), RawTar.File("GNUSparseFile.0/f", "x"), RawTar.End);
        await s.AssertRejected(blob, "GNU sparse files are not supported");
    }

    [Fact]
    public async Task DeviceNodesAimedOutsideAreRejected()
    {
        using var s = new LayerSandbox();
        await s.AssertRejected(new TarBuilder().Device("../sda", TarEntryType.BlockDevice, 8, 0).Build(), "climbs above the layer root");
        await s.AssertRejected(new TarBuilder().Symlink("a", s.Root).Device("a/null", TarEntryType.CharacterDevice, 1, 3).Build(), "parent 'a' is a symlink");
    }

    [Fact]
    public async Task SymlinkAimedOutsideViaItsOwnNameIsRejected()
    {
        using var s = new LayerSandbox();
        await s.AssertRejected(new TarBuilder().Symlink("../outside.txt", "/etc/shadow").Build(), "climbs above the layer root");
    }

    [Fact]
    public async Task NegativeUidIsRejected()
    {
        using var s = new LayerSandbox();
        var uid = Enumerable.Repeat((byte)0xFF, 8).ToArray();
        var h = RawTar.Header("f", '0');
        uid.CopyTo(h, 108);
        Array.Fill(h, (byte)' ', 148, 8);
        int sum = h.Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(h, 148);
        await s.AssertRejected(RawTar.Concat(h, RawTar.End), "negative uid");
    }

    [Fact]
    public async Task RandomlyCorruptedLayersOnlyEverFailWithRtException()
    {
        // A small deterministic fuzz pass: byte flips, truncations and splices of a rich layer. The oracle: success or
        // RtException, nothing written outside, no partial directory.
        var tar = new TarBuilder()
            .Dir("etc/").File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").Symlink("bin", "usr/bin")
            .File("usr/bin/tool", new byte[3000], mode: 0xDED, pax: new() { ["SCHILY.xattr.user.k"] = "v" })
            .HardLink("usr/bin/tool2", "usr/bin/tool").File(".wh.gone", "").Dir("var/").File("var/.wh..wh..opq", "")
            .Device("dev/null", TarEntryType.CharacterDevice, 1, 3).Build();
        var rng = new Random(12345);
        for (int i = 0; i < 300; i++)
        {
            var blob = (byte[])tar.Clone();
            switch (i % 3)
            {
                case 0:
                    for (int k = 0; k < 1 + rng.Next(8); k++) blob[rng.Next(blob.Length)] = (byte)rng.Next(256);
                    break;
                case 1:
                    blob = blob[..rng.Next(blob.Length)];
                    break;
                default:
                    int a = rng.Next(blob.Length), b = rng.Next(blob.Length), n = rng.Next(1, 600);
                    n = Math.Min(n, Math.Min(blob.Length - a, blob.Length - b));
                    Array.Copy(tar, a, blob, b, n);
                    break;
            }
            using var s = new LayerSandbox();
            try
            {
                await s.Unpack(blob);
            }
            catch (RtException)
            {
                Assert.False(Directory.Exists(s.Dest));
            }
            s.AssertNothingOutside();
        }
    }

    [Fact]
    public async Task NonUtf8NamesAreReproducedByteForByte()
    {
        // Latin-1 "café" (0xE9 is invalid UTF-8 on its own): tar names are bytes, and so are Linux names.
        byte[] cafe = [(byte)'c', (byte)'a', (byte)'f', 0xE9];
        byte[] dir = [(byte)'d', 0xFF];
        byte[] target = [(byte)'t', 0xE9, (byte)'/', 0xFE];
        using var s = new LayerSandbox();
        var blob = RawTar.Concat(
            RawTar.Header("", '0', nameBytes: cafe, size: "00000000003"), RawTar.Padded("abc"u8.ToArray()),
            RawTar.Header("", '5', nameBytes: [.. dir, (byte)'/']),
            RawTar.Header("", '0', nameBytes: [.. dir, (byte)'/', .. cafe]),
            // A hardlink to the Latin-1 name, a symlink with a Latin-1 target, a whiteout of a Latin-1 name: PAX records.
            RawTar.Pax(("linkpath", cafe)), RawTar.Header("hard", '1'),
            RawTar.Pax(("linkpath", target)), RawTar.Header("sym", '2'),
            RawTar.Pax(("path", [.. dir, (byte)'/', (byte)'.', (byte)'w', (byte)'h', (byte)'.', 0xE0])), RawTar.File("ignored", ""),
            RawTar.End);
        await s.Unpack(blob);
        Assert.Equal(3ul, Fs.LstatRaw(s.Dest, cafe).Size);
        Assert.Equal(Fs.LstatRaw(s.Dest, cafe).Ino, Fs.Lstat(s.P("hard")).Ino);
        Assert.Equal(target, Fs.ReadlinkRaw(s.Dest, "sym"u8.ToArray()));
        Assert.Equal(Libc.FileSys.S_IFDIR, Fs.LstatRaw(s.Dest, dir).Type);
        Assert.Equal(Libc.FileSys.S_IFREG, Fs.LstatRaw(s.Dest, [.. dir, (byte)'/', .. cafe]).Type);
        var wh = Fs.LstatRaw(s.Dest, [.. dir, (byte)'/', 0xE0]);
        Assert.Equal(Libc.FileSys.S_IFCHR, wh.Type);
        s.AssertNothingOutside();
    }

    [Fact]
    public async Task DirectoriesWithNonUtf8NamesAreReplacedAndCleanedUp()
    {
        byte[] bad = [(byte)'x', 0xE9];
        using var s = new LayerSandbox();
        // A directory holding a non-UTF-8 name is replaced by a file, then a later entry fails: the partial layer,
        // non-UTF-8 names included, must be removed completely.
        var blob = RawTar.Concat(
            RawTar.Header("d/", '5'),
            RawTar.Header("", '0', nameBytes: [(byte)'d', (byte)'/', .. bad]),
            RawTar.Header("", '5', nameBytes: [(byte)'d', (byte)'/', .. bad, (byte)'d', (byte)'/']),
            RawTar.Header("", '0', nameBytes: [(byte)'d', (byte)'/', .. bad, (byte)'d', (byte)'/', .. bad]),
            RawTar.File("d", "file now"),
            RawTar.Header("", '0', nameBytes: [(byte)'k', (byte)'/', .. bad]),
            RawTar.File("../escape", "x"),
            RawTar.End);
        var e = await s.AssertRejected(blob, "climbs above the layer root");
        Assert.Contains("../escape", e.Message);

        // A complete layer holding such names: Directory.Delete cannot remove it, LayerUnpacker.DeleteLayer can.
        await s.Unpack(RawTar.Concat(RawTar.Header("", '0', nameBytes: [(byte)'a', (byte)'/', .. bad]), RawTar.End));
        Assert.ThrowsAny<IOException>(() => Directory.Delete(s.Dest, recursive: true));
        LayerUnpacker.DeleteLayer(s.Dest);
        Assert.False(Directory.Exists(s.Dest));
        LayerUnpacker.DeleteLayer(s.Dest); // already gone: fine
    }

    [Fact]
    public async Task ReplacingAParentDirectoryWithASymlinkDoesNotLetLaterEntriesFollowIt()
    {
        // "a/b" is the cached parent when "a" turns into a symlink to the sandbox root; the next "a/b/..." must not
        // land in the old (now deleted) directory nor follow the symlink.
        using var s = new LayerSandbox();
        var tar = new TarBuilder().File("a/b/one", "1").Symlink("a", s.Root).File("a/b/two", "2").Build();
        await s.AssertRejected(tar, "parent 'a' is a symlink");
    }

    [Fact]
    public async Task HardlinkWhoseNameGoesThroughASymlinkIsRejected()
    {
        using var s = new LayerSandbox();
        var tar = new TarBuilder().File("f", "x").Symlink("a", s.Root).HardLink("a/outside.txt", "f").Build();
        await s.AssertRejected(tar, "parent 'a' is a symlink");
    }

    [Fact]
    public async Task GnuLongLinkTargetOutsideIsRejected()
    {
        using var s = new LayerSandbox();
        var target = string.Concat(Enumerable.Repeat("../", 40)) + "outside.txt";
        var tar = new TarBuilder(TarEntryFormat.Gnu).HardLink("h", target).Build();
        await s.AssertRejected(tar, "climbs above the layer root");
    }

    [Fact]
    public async Task OpaqueMarkerAtTheRootMarksTheLayerRoot()
    {
        using var s = new LayerSandbox();
        await s.Unpack(new TarBuilder().File(".wh..wh..opq", "").File("a", "a").Build());
        Assert.Equal("y"u8.ToArray(), Fs.GetXattr(s.Dest, "trusted.overlay.opaque"));
        s.AssertNothingOutside();
    }

    [Fact]
    public async Task FailingSourceStreamIsReportedAsAReadError()
    {
        using var s = new LayerSandbox();
        var gz = TarBuilder.Gzip(new TarBuilder().File("a", new byte[500_000]).Build());
        var e = await Assert.ThrowsAnyAsync<RtException>(() =>
            LayerUnpacker.UnpackAsync(new FailingStream(gz, 2000), "application/vnd.oci.image.layer.v1.tar+gzip", s.Dest));
        Assert.Contains("reading layer failed", e.Message);
        Assert.Contains("connection reset", e.Message);
        Assert.False(Directory.Exists(s.Dest));
        s.AssertNothingOutside();
    }

    private sealed class FailingStream(byte[] data, int failAt) : Tinyo.Rt.Images.ReadOnlyStream
    {
        private int _pos;
        public override int Read(Span<byte> buffer)
        {
            if (_pos >= failAt) throw new IOException("connection reset by peer");
            int n = Math.Min(buffer.Length, Math.Min(failAt, data.Length) - _pos);
            data.AsSpan(_pos, n).CopyTo(buffer);
            _pos += n;
            return n;
        }
    }

    [Fact]
    public async Task V7DirectoriesAreRecognisedByTheirTrailingSlash()
    {
        using var s = new LayerSandbox();
        var blob = RawTar.Concat(RawTar.Header("olddir/", '\0', magic: "\0\0\0\0\0\0", version: "\0\0", mode: "0000750"), RawTar.File("olddir/f", "x"), RawTar.End);
        await s.Unpack(blob);
        Assert.Equal(Libc.FileSys.S_IFDIR | 0x1E8u, Fs.Lstat(s.P("olddir")).Mode);
        Assert.Equal("x", File.ReadAllText(s.P("olddir/f")));
    }

    [Fact]
    public async Task ReplacingADirectoryHoldingSymlinksToOutsideRemovesOnlyTheLinks()
    {
        // "d" holds symlinks to the sandbox root and to the sentinel; a later file "d" replaces the whole directory.
        // The removal must unlink the symlinks, never descend through them.
        using var s = new LayerSandbox();
        var tar = new TarBuilder()
            .Dir("d/").Symlink("d/root", s.Root).Symlink("d/file", s.Sentinel).Dir("d/sub/").Symlink("d/sub/layers", s.Layers)
            .File("d", "now a file")
            .Build();
        await s.Unpack(tar);
        Assert.Equal("now a file", File.ReadAllText(s.P("d")));
        s.AssertNothingOutside();
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
