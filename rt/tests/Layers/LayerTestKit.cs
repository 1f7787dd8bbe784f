using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Tinyo.Rt.Images;
using Tinyo.Linux;

namespace Tinyo.Rt.Tests.Layers;

/// <summary>
/// A temp directory laid out as TMP/outside.txt (a sentinel whose content and mtime must never change) and
/// TMP/layers/x (the unpack destination). Dispose removes it all.
/// </summary>
public sealed class LayerSandbox : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "tinyo-layer-" + Guid.NewGuid().ToString("N")[..12]);
    public string Sentinel => Path.Combine(Root, "outside.txt");
    public string Layers => Path.Combine(Root, "layers");
    public string Dest => Path.Combine(Layers, "x");
    private readonly DateTime _sentinelMtime;

    public LayerSandbox()
    {
        Directory.CreateDirectory(Layers);
        File.WriteAllText(Sentinel, "sentinel");
        File.SetLastWriteTimeUtc(Sentinel, new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc));
        _sentinelMtime = File.GetLastWriteTimeUtc(Sentinel);
    }

    public Task<Digest> Unpack(byte[] blob, string mediaType = "application/vnd.oci.image.layer.v1.tar") =>
        LayerUnpacker.UnpackAsync(new MemoryStream(blob), mediaType, Dest);

    /// <summary>Asserts the unpack failed cleanly: RtException, no destination, no partial dir, nothing outside touched.</summary>
    public async Task<RtException> AssertRejected(byte[] blob, string expectedInMessage, string mediaType = "application/vnd.oci.image.layer.v1.tar")
    {
        var e = await Assert.ThrowsAnyAsync<RtException>(() => Unpack(blob, mediaType));
        Assert.Contains(expectedInMessage, e.Message);
        Assert.False(Directory.Exists(Dest) || File.Exists(Dest), "destination must not exist after a failure");
        AssertNothingOutside();
        Assert.Empty(Directory.GetFileSystemEntries(Layers));
        return e;
    }

    /// <summary>The sentinel is intact and TMP holds only outside.txt and layers/; layers/ holds at most x.</summary>
    public void AssertNothingOutside()
    {
        Assert.Equal("sentinel", File.ReadAllText(Sentinel));
        Assert.Equal(_sentinelMtime, File.GetLastWriteTimeUtc(Sentinel));
        var top = Directory.GetFileSystemEntries(Root).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(new[] { "layers", "outside.txt" }, top);
        foreach (var e in Directory.GetFileSystemEntries(Layers))
        {
            Assert.Equal("x", Path.GetFileName(e));
            Assert.DoesNotContain(".partial-", e);
        }
    }

    public string P(string rel) => Path.Combine(Dest, rel);

    // By fd and raw names: layers may hold names that are not UTF-8, which Directory.Delete cannot remove.
    public void Dispose() => LayerUnpacker.DeleteLayer(Root);
}

/// <summary>Builds tar layers in memory.</summary>
public sealed class TarBuilder
{
    private readonly MemoryStream _ms = new();
    private readonly TarWriter _w;
    public static readonly DateTimeOffset T0 = new(2020, 1, 2, 3, 4, 5, TimeSpan.Zero);

    public TarBuilder(TarEntryFormat format = TarEntryFormat.Pax) { _w = new TarWriter(_ms, format, leaveOpen: true); Format = format; }
    public TarEntryFormat Format { get; }

    private TarEntry New(TarEntryType type, string name, Dictionary<string, string>? pax = null)
    {
        TarEntry e = Format switch
        {
            TarEntryFormat.Gnu => new GnuTarEntry(type, name),
            TarEntryFormat.Ustar => new UstarTarEntry(type, name),
            _ => pax is null ? new PaxTarEntry(type, name) : new PaxTarEntry(type, name, pax),
        };
        e.ModificationTime = T0;
        return e;
    }

    public TarBuilder Dir(string name, int mode = 0x1ED, int uid = 0, int gid = 0, DateTimeOffset? mtime = null, Dictionary<string, string>? pax = null)
    {
        var e = New(TarEntryType.Directory, name, pax);
        e.Mode = (UnixFileMode)mode; e.Uid = uid; e.Gid = gid;
        if (mtime is { } m) e.ModificationTime = m;
        _w.WriteEntry(e);
        return this;
    }

    public TarBuilder File(string name, string content, int mode = 0x1A4, int uid = 0, int gid = 0, DateTimeOffset? mtime = null, Dictionary<string, string>? pax = null) =>
        File(name, Encoding.UTF8.GetBytes(content), mode, uid, gid, mtime, pax);

    public TarBuilder File(string name, byte[] content, int mode = 0x1A4, int uid = 0, int gid = 0, DateTimeOffset? mtime = null, Dictionary<string, string>? pax = null)
    {
        var e = New(TarEntryType.RegularFile, name, pax);
        e.Mode = (UnixFileMode)mode; e.Uid = uid; e.Gid = gid;
        if (mtime is { } m) e.ModificationTime = m;
        e.DataStream = new MemoryStream(content);
        _w.WriteEntry(e);
        return this;
    }

    public TarBuilder Symlink(string name, string target, int uid = 0, int gid = 0)
    {
        var e = New(TarEntryType.SymbolicLink, name);
        e.LinkName = target; e.Uid = uid; e.Gid = gid; e.Mode = (UnixFileMode)0x1FF;
        _w.WriteEntry(e);
        return this;
    }

    public TarBuilder HardLink(string name, string target)
    {
        var e = New(TarEntryType.HardLink, name);
        e.LinkName = target;
        _w.WriteEntry(e);
        return this;
    }

    public TarBuilder Device(string name, TarEntryType type, int major, int minor, int mode = 0x1B6)
    {
        var e = (PosixTarEntry)New(type, name);
        e.Mode = (UnixFileMode)mode;
        if (type != TarEntryType.Fifo) { e.DeviceMajor = major; e.DeviceMinor = minor; }
        _w.WriteEntry(e);
        return this;
    }

    public byte[] Build()
    {
        _w.Dispose();
        return _ms.ToArray();
    }

    /// <summary>The tar bytes without the end-of-archive marker (two zero blocks), to append raw blocks after.</summary>
    public byte[] BuildWithoutEnd()
    {
        var all = Build();
        return all[..^1024];
    }

    public static byte[] Gzip(byte[] tar)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(tar);
        return ms.ToArray();
    }

    public static byte[] Zstd(byte[] tar)
    {
        using var c = new ZstdSharp.Compressor(3);
        return c.Wrap(tar).ToArray();
    }
}

/// <summary>Hand-crafted tar headers, for input no well-behaved writer produces.</summary>
public static class RawTar
{
    /// <summary>A 512-byte header; fields given as raw strings are written as-is; the checksum is computed unless given.</summary>
    public static byte[] Header(string name, char type, string size = "00000000000", string mode = "0000644", string uid = "0000000",
        string gid = "0000000", string linkName = "", string magic = "ustar\0", string version = "00", string? checksum = null,
        byte[]? nameBytes = null, byte[]? sizeBytes = null)
    {
        var h = new byte[512];
        if (nameBytes is not null) nameBytes.AsSpan(0, Math.Min(100, nameBytes.Length)).CopyTo(h);
        else Put(h, 0, 100, name);
        Put(h, 100, 8, mode);
        Put(h, 108, 8, uid);
        Put(h, 116, 8, gid);
        if (sizeBytes is not null) sizeBytes.CopyTo(h, 124);
        else Put(h, 124, 12, size);
        Put(h, 136, 12, "13600000000");
        h[156] = (byte)type;
        Put(h, 157, 100, linkName);
        Put(h, 257, 6, magic);
        Put(h, 263, 2, version);
        if (checksum is not null) Put(h, 148, 8, checksum);
        else
        {
            for (int i = 148; i < 156; i++) h[i] = (byte)' ';
            int sum = 0;
            foreach (var b in h) sum += b;
            Put(h, 148, 8, Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ");
        }
        return h;
    }

    private static void Put(byte[] h, int off, int len, string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        b.AsSpan(0, Math.Min(len, b.Length)).CopyTo(h.AsSpan(off));
    }

    /// <summary>A PAX extended header ('x') carrying the given records (values as raw bytes), padded.</summary>
    public static byte[] Pax(params (string Key, byte[] Value)[] records)
    {
        var body = new MemoryStream();
        foreach (var (k, v) in records)
        {
            var kb = Encoding.UTF8.GetBytes(k);
            int rest = 1 + kb.Length + 1 + v.Length + 1; // " key=value\n"
            int len = rest + 1;
            while (len.ToString().Length + rest != len) len = len.ToString().Length + rest;
            body.Write(Encoding.ASCII.GetBytes(len.ToString()));
            body.WriteByte((byte)' ');
            body.Write(kb);
            body.WriteByte((byte)'=');
            body.Write(v);
            body.WriteByte((byte)'\n');
        }
        var data = body.ToArray();
        return [.. Header("PaxHeaders/x", 'x', size: Convert.ToString(data.Length, 8).PadLeft(11, '0')), .. Padded(data)];
    }

    public static byte[] Padded(byte[] data)
    {
        var r = new byte[(data.Length + 511) / 512 * 512];
        data.CopyTo(r, 0);
        return r;
    }

    public static byte[] File(string name, string content, string mode = "0000644") =>
        [.. Header(name, '0', size: Convert.ToString(content.Length, 8).PadLeft(11, '0'), mode: mode), .. Padded(Encoding.UTF8.GetBytes(content))];

    public static byte[] End => new byte[1024];

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}

/// <summary>lstat-like helpers over statx.</summary>
internal static class Fs
{
    public static Libc.Statx Lstat(string path)
    {
        Assert.Equal(0, Libc.StatxAt(Libc.FileSys.AT_FDCWD, Libc.Utf8z(path), Libc.FileSys.AT_SYMLINK_NOFOLLOW, out var st));
        return st;
    }

    /// <summary>statx of DIR/RAW where RAW is a name in raw bytes (possibly not UTF-8).</summary>
    public static Libc.Statx LstatRaw(string dir, byte[] raw)
    {
        Assert.Equal(0, Libc.StatxAt(Libc.FileSys.AT_FDCWD, RawPath(dir, raw), Libc.FileSys.AT_SYMLINK_NOFOLLOW, out var st));
        return st;
    }

    public static bool ExistsRaw(string dir, byte[] raw) =>
        Libc.StatxAt(Libc.FileSys.AT_FDCWD, RawPath(dir, raw), Libc.FileSys.AT_SYMLINK_NOFOLLOW, out _) == 0;

    public static byte[] ReadlinkRaw(string dir, byte[] raw)
    {
        var buf = new byte[4096];
        int n = Libc.ReadlinkAt(Libc.FileSys.AT_FDCWD, RawPath(dir, raw), buf);
        Assert.True(n >= 0);
        return buf[..n];
    }

    private static byte[] RawPath(string dir, byte[] raw) => [.. System.Text.Encoding.UTF8.GetBytes(dir + "/"), .. raw, 0];

    public static bool Exists(string path) => Libc.StatxAt(Libc.FileSys.AT_FDCWD, Libc.Utf8z(path), Libc.FileSys.AT_SYMLINK_NOFOLLOW, out _) == 0;

    public static byte[]? GetXattr(string path, string name)
    {
        var buf = new byte[4096];
        var n = Libc.Lgetxattr(Libc.Utf8z(path), Libc.Utf8z(name), buf);
        return n < 0 ? null : buf[..(int)n];
    }
}
