using System.Diagnostics;
using Tinyo.Rt.Images;
using Tinyo.Linux;

namespace Tinyo.Rt.Tests.Layers;

/// <summary>Layers made by the real GNU tar (the tool image builders shell out to) unpack to the tree they came from.</summary>
public class RealTarLayerTests
{
    [Fact]
    public async Task GnuTarLayerRoundTripsATreeWithEveryFileType()
    {
        using var s = new LayerSandbox();
        var src = Path.Combine(s.Root, "src-tree");
        var tarFile = Path.Combine(s.Root, "layer.tar.gz");
        try
        {
            Directory.CreateDirectory(Path.Combine(src, "usr/bin"));
            Directory.CreateDirectory(Path.Combine(src, "etc/skel"));
            File.WriteAllText(Path.Combine(src, "etc/hostname"), "tinyo\n");
            File.WriteAllBytes(Path.Combine(src, "usr/bin/ping"), new byte[70_000]);
            Sh($"chmod 4755 {src}/usr/bin/ping && chown 0:0 {src}/usr/bin/ping && setcap cap_net_raw,cap_setuid,cap_dac_override+ep {src}/usr/bin/ping");
            Sh($"ln -s ../etc/hostname {src}/usr/hn && ln {src}/etc/hostname {src}/etc/hostname.hard && mkfifo -m 640 {src}/etc/fifo");
            Sh($"mknod -m 620 {src}/etc/tty0 c 4 0 && chown 1234:5678 {src}/etc/skel && chmod 1750 {src}/etc/skel");
            Sh($"touch -h -d '2011-12-13 14:15:16.123456789Z' {src}/usr/hn {src}/etc/hostname {src}/etc/skel {src}/usr");
            Sh($"tar --numeric-owner --xattrs --xattrs-include='*' -C {src} -czf {tarFile} .");

            var diffId = await LayerUnpacker.UnpackAsync(File.OpenRead(tarFile), "application/vnd.docker.image.rootfs.diff.tar.gzip", s.Dest);
            Assert.Equal("sha256:" + Sh($"gzip -dc {tarFile} | sha256sum").Split(' ')[0], diffId.ToString());

            foreach (var rel in new[] { "etc/hostname", "usr/bin/ping", "usr/hn", "etc/fifo", "etc/tty0", "etc/skel", "usr", "usr/bin" })
            {
                var a = Fs.Lstat(Path.Combine(src, rel));
                var b = Fs.Lstat(s.P(rel));
                Assert.True(a.Mode == b.Mode, $"{rel}: mode {Convert.ToString(a.Mode, 8)} vs {Convert.ToString(b.Mode, 8)}");
                Assert.True(a.Uid == b.Uid && a.Gid == b.Gid, $"{rel}: owner");
                Assert.True(a.Mtime.Sec == b.Mtime.Sec, $"{rel}: mtime {a.Mtime.Sec} vs {b.Mtime.Sec}");
                Assert.True((a.RdevMajor, a.RdevMinor) == (b.RdevMajor, b.RdevMinor), $"{rel}: rdev");
            }
            // GNU tar's PAX mtime keeps nanoseconds, and so do we (TarReader alone would round to 100 ns).
            Assert.Equal(123456789u, Fs.Lstat(s.P("etc/hostname")).Mtime.Nsec);
            Assert.Equal(123456789u, Fs.Lstat(s.P("usr/hn")).Mtime.Nsec);
            Assert.Equal(123456789u, Fs.Lstat(s.P("etc/skel")).Mtime.Nsec);
            Assert.Equal("../etc/hostname", new FileInfo(s.P("usr/hn")).LinkTarget);
            Assert.Equal(Fs.Lstat(s.P("etc/hostname")).Ino, Fs.Lstat(s.P("etc/hostname.hard")).Ino);
            Assert.Equal(Fs.GetXattr(Path.Combine(src, "usr/bin/ping"), "security.capability"), Fs.GetXattr(s.P("usr/bin/ping"), "security.capability"));
            Assert.Contains("cap_dac_override,cap_setuid,cap_net_raw=ep", Sh($"getcap {s.P("usr/bin/ping")}"));
        }
        finally
        {
            if (Directory.Exists(src)) Directory.Delete(src, true);
            File.Delete(tarFile);
        }
    }

    private static string Sh(string cmd)
    {
        var psi = new ProcessStartInfo("/bin/sh", ["-c", cmd]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{cmd}: {stderr}");
        return stdout;
    }
}
