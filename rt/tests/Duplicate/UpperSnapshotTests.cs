using System.Diagnostics;
using Tinyo.Linux;
using Tinyo.Rt.Duplicate;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Rt.Tests.Duplicate;

/// <summary>
/// <see cref="UpperSnapshot"/> on trees made here: every kind of entry an overlay upper holds comes out the same
/// (whiteouts, opaque directories, symlinks, hard links, FIFOs, owners, modes, times, xattrs); data is reflinked on
/// XFS (a loop-mounted one made by the test) and copied on ext4/tmpfs; a full disk is a clear error.
/// </summary>
public sealed class UpperSnapshotTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tinyo-snap-").FullName;

    public void Dispose() => Tinyo.Rt.Images.ImageGc.DeleteTree(_dir);

    private static void Build(string src)
    {
        Directory.CreateDirectory(Path.Combine(src, "etc", "deep"));
        File.WriteAllText(Path.Combine(src, "etc", "deep", "file"), "content");
        File.WriteAllBytes(Path.Combine(src, "big"), new byte[3 << 20]);
        File.CreateSymbolicLink(Path.Combine(src, "link"), "/etc/deep/file");
        Assert.Equal(0, Libc.LinkAt(Libc.AT_FDCWD_, Libc.Utf8z(Path.Combine(src, "etc", "deep", "file")), Libc.AT_FDCWD_, Libc.Utf8z(Path.Combine(src, "hard")), 0));
        // An overlay whiteout and an opaque directory.
        Assert.Equal(0, Libc.MknodAt(Libc.AT_FDCWD_, Libc.Utf8z(Path.Combine(src, "gone")), Libc.FileSys.S_IFCHR, 0));
        Directory.CreateDirectory(Path.Combine(src, "opaque"));
        int fd = Libc.OpenAt(Libc.AT_FDCWD_, Libc.Utf8z(Path.Combine(src, "opaque")), Libc.FileSys.O_RDONLY | Libc.FileSys.O_DIRECTORY);
        Assert.True(fd >= 0);
        Assert.Equal(0, Libc.Fsetxattr(fd, "trusted.overlay.opaque\0"u8, "y"u8));
        Libc.CloseFd(fd);
        Assert.Equal(0, Libc.MknodAt(Libc.AT_FDCWD_, Libc.Utf8z(Path.Combine(src, "fifo")), Libc.FileSys.S_IFIFO | 0x1A4, 0));
        var suid = Path.Combine(src, "suid");
        File.WriteAllText(suid, "x");
        Assert.Equal(0, Libc.FchownAt(Libc.AT_FDCWD_, Libc.Utf8z(suid), 1000, 1000, 0));
        Assert.Equal(0, Libc.FchmodAt(Libc.AT_FDCWD_, Libc.Utf8z(suid), 0xDED /* 06755 */));
        File.SetLastWriteTimeUtc(Path.Combine(src, "etc", "deep", "file"), new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc));
        Directory.SetLastWriteTimeUtc(Path.Combine(src, "etc"), new DateTime(2002, 2, 3, 4, 5, 6, DateTimeKind.Utc));
    }

    private static void AssertSame(string src, string dst)
    {
        Assert.Equal("content", File.ReadAllText(Path.Combine(dst, "etc", "deep", "file")));
        Assert.Equal(3 << 20, new FileInfo(Path.Combine(dst, "big")).Length);
        Assert.Equal("/etc/deep/file", new FileInfo(Path.Combine(dst, "link")).LinkTarget);
        Stat(Path.Combine(dst, "hard"), out var h);
        Stat(Path.Combine(dst, "etc", "deep", "file"), out var f);
        Assert.Equal(f.Ino, h.Ino); // still one file
        Assert.Equal(2u, f.Nlink);
        Stat(Path.Combine(dst, "gone"), out var w);
        Assert.Equal(Libc.FileSys.S_IFCHR, w.Type);
        Assert.Equal((0u, 0u), (w.RdevMajor, w.RdevMinor));
        Span<byte> v = stackalloc byte[8];
        Assert.Equal(1, Libc.Lgetxattr(Libc.Utf8z(Path.Combine(dst, "opaque")), "trusted.overlay.opaque\0"u8, v));
        Assert.Equal((byte)'y', v[0]);
        Stat(Path.Combine(dst, "fifo"), out var p);
        Assert.Equal(Libc.FileSys.S_IFIFO, p.Type);
        Stat(Path.Combine(dst, "suid"), out var s);
        Assert.Equal((1000u, 1000u), (s.Uid, s.Gid));
        Assert.Equal(0xDED, s.Mode & 0xFFF); // set-id bits survive the chown
        Assert.Equal(new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc), File.GetLastWriteTimeUtc(Path.Combine(dst, "etc", "deep", "file")));
        Assert.Equal(new DateTime(2002, 2, 3, 4, 5, 6, DateTimeKind.Utc), Directory.GetLastWriteTimeUtc(Path.Combine(dst, "etc")));
        // Independent: writing the copy leaves the source alone.
        File.WriteAllText(Path.Combine(dst, "etc", "deep", "file"), "changed");
        Assert.Equal("content", File.ReadAllText(Path.Combine(src, "etc", "deep", "file")));
    }

    private static void Stat(string path, out Libc.Statx st) =>
        Assert.Equal(0, Libc.StatxAt(Libc.AT_FDCWD_, Libc.Utf8z(path), Libc.FileSys.AT_SYMLINK_NOFOLLOW, out st));

    [Fact]
    public void Every_kind_of_entry_is_copied_as_it_is()
    {
        var src = Path.Combine(_dir, "src");
        Build(src);
        var stats = UpperSnapshot.Take(src, Path.Combine(_dir, "dst"));
        AssertSame(src, Path.Combine(_dir, "dst"));
        Assert.Equal(3, stats.Files); // file (+ its hard link, not counted twice), big, suid
        Assert.Equal(0, stats.Reflinked + stats.Copied - 3);
    }

    [Fact]
    public void The_target_must_not_exist()
    {
        var src = Path.Combine(_dir, "src");
        Directory.CreateDirectory(src);
        Directory.CreateDirectory(Path.Combine(_dir, "dst"));
        var e = Assert.Throws<RtException>(() => UpperSnapshot.Take(src, Path.Combine(_dir, "dst")));
        Assert.Contains("File exists", e.Message);
    }

    [SkippableFact]
    public void A_full_disk_is_named()
    {
        using var fs = new SmallTmpfs(2048);
        Skip.If(fs.Unavailable is not null, fs.Unavailable ?? "");
        var src = Path.Combine(fs.Dir, "src");
        Directory.CreateDirectory(src);
        File.WriteAllBytes(Path.Combine(src, "a"), new byte[1200 << 10]);
        var e = Assert.Throws<RtException>(() => UpperSnapshot.Take(src, Path.Combine(fs.Dir, "dst")));
        Assert.Contains("no space left", e.Message);
        Assert.Contains("snapshot of the writable layer", e.Message);
    }

    [SkippableFact]
    public void Data_is_reflinked_on_xfs()
    {
        Skip.If(!File.Exists("/usr/sbin/mkfs.xfs") && !File.Exists("/sbin/mkfs.xfs"), "mkfs.xfs is not installed (apt-get install xfsprogs)");
        var img = Path.Combine(_dir, "xfs.img");
        var mnt = Path.Combine(_dir, "mnt");
        Directory.CreateDirectory(mnt);
        using (var f = File.Create(img)) f.SetLength(320L << 20);
        Assert.Equal(0, Sh("mkfs.xfs", "-q", "-m", "reflink=1", img));
        Skip.If(Sh("mount", "-o", "loop", img, mnt) != 0, "cannot loop-mount an XFS image here");
        try
        {
            var src = Path.Combine(mnt, "src");
            Build(src);
            var stats = UpperSnapshot.Take(src, Path.Combine(mnt, "dst"));
            Assert.Equal("reflink", stats.Method);
            Assert.Equal(3, stats.Reflinked);
            AssertSame(src, Path.Combine(mnt, "dst"));
        }
        finally
        {
            Sh("umount", mnt);
        }
    }

    private static int Sh(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode;
    }
}
