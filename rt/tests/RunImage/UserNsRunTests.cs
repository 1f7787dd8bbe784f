namespace Tinyo.Rt.Tests.RunImage;

/// <summary><c>tinyort run --userns HOSTUID:COUNT</c>: root inside is an unprivileged host range, the shared image
/// layers are seen through idmapped mounts (never chowned), the container's writes land in its upper dir owned by
/// the mapped ids.</summary>
[Collection("containers")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class UserNsRunTests : IDisposable
{
    private readonly ImageRoot _r = new();

    // The temp root is 0700; the mapped root must be able to reach the rootfs below it (see PrivateRoot_IsRefused).
    public UserNsRunTests() => File.SetUnixFileMode(_r.Path, (UnixFileMode)0x1C9 /* 0711 */);

    public void Dispose() => _r.Dispose();

    [Fact]
    public void Userns_PrivateRoot_IsRefusedClearly_NothingLeft()
    {
        File.SetUnixFileMode(_r.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var (code, _, e) = _r.Cli("run", "--rm", "--userns", "100000:65536", "busybox", "true");
        Assert.NotEqual(0, code);
        Assert.Contains("is not searchable by others", e);
        Assert.DoesNotContain("   at ", e);
        _r.AssertNoContainers();
    }

    [Fact]
    public void Userns_RootInside_IsMappedRange_WritesOwnedByHostRange_LayersUntouched()
    {
        var (code, o, e) = _r.Cli("run", "--name", "uns", "--userns", "100000:65536", "busybox", "sh", "-c",
            "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; stat -c %u:%g /bin/busybox /etc; echo hi > /etc/newfile && echo x >> /etc/hostname && echo 'u:x:5:5::/:/bin/sh' >> /etc/passwd && echo wrote");
        Assert.True(code == 0, $"{o}{e}");
        var lines = o.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("0", lines[0]);
        Assert.Equal("0", lines[1]);
        Assert.Matches(@"^\s*0\s+100000\s+65536$", lines[2]);
        Assert.Matches(@"^\s*0\s+100000\s+65536$", lines[3]);
        Assert.Equal("0:0", lines[4]); // image files, owned by the host's root, appear owned by root inside
        Assert.Equal("0:0", lines[5]);
        Assert.Equal("wrote", lines[6]);
        var id = Assert.Single(_r.ContainerIds());
        var upper = Path.Combine(_r.Root.Containers, id, "upper");
        Assert.Equal((100000, 100000), Owner(Path.Combine(upper, "etc", "newfile")));
        Assert.Equal((100000, 100000), Owner(Path.Combine(upper, "etc", "passwd"))); // copied up with its idmapped owner
        Assert.EndsWith("u:x:5:5::/:/bin/sh\n", File.ReadAllText(Path.Combine(upper, "etc", "passwd")));
        // /etc/hostname is the container's own file (bind-mounted from its directory), writable by its root.
        Assert.Equal((100000, 100000), Owner(Path.Combine(_r.Root.Containers, id, "hostname")));
        Assert.Equal((100000, 100000), Owner(upper));
        // The shared layer is unchanged: still owned by the host's root, its file not modified.
        var layer = Directory.GetDirectories(_r.Root.Layers).Single();
        Assert.Equal((0, 0), Owner(Path.Combine(layer, "etc", "passwd")));
        Assert.DoesNotContain("u:x:5:5", File.ReadAllText(Path.Combine(layer, "etc", "passwd")));
        Assert.Equal((0, 0), Owner(Path.Combine(layer, "bin", "busybox")));
        Assert.Equal("busybox\n", File.ReadAllText(Path.Combine(layer, "etc", "hostname")));
        Assert.Equal(0, _r.Cli("rm", "uns").Code);
        _r.AssertGone(id);
    }

    [Fact]
    public void Userns_Detached_RunsAndIsRemoved()
    {
        var (code, o, e) = _r.Cli("run", "-d", "--userns", "200000:1000", "busybox", "sleep", "30");
        Assert.True(code == 0, $"{o}{e}");
        var id = o.Trim();
        var pid = PidOf(id);
        Assert.Equal("0 200000 1000", string.Join(' ', File.ReadAllText($"/proc/{pid}/uid_map").Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal("0 200000 1000", string.Join(' ', File.ReadAllText($"/proc/{pid}/gid_map").Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)));
        // exec joins the user namespace: root inside again, its writes owned by the mapped range on the host.
        var (xc, xo, xe) = _r.Cli("exec", id, "sh", "-c", "id -u; touch /made-by-exec && stat -c %u /made-by-exec");
        Assert.True(xc == 0, $"{xo}{xe}");
        Assert.Equal("0\n0\n", xo);
        Assert.Equal((200000, 200000), Owner(Path.Combine(_r.Root.Containers, id, "upper", "made-by-exec")));
        Assert.Equal(0, _r.Cli("rm", "-f", id).Code);
        _r.AssertGone(id);
    }

    [Theory]
    [InlineData("abc", "expected HOSTUID:COUNT")]
    [InlineData("100000", "expected HOSTUID:COUNT")]
    [InlineData("100000:0", "COUNT must be at least 1")]
    [InlineData("0:65536", "HOSTUID 0")]
    [InlineData("4294967295:1", "exceeds the largest id")]
    [InlineData("4294967000:65536", "exceeds the largest id")]
    [InlineData("-1:10", "expected HOSTUID:COUNT")]
    public void Userns_BadValues_ClearError_NothingLeft(string value, string message)
    {
        var (code, o, e) = _r.Cli("run", "--rm", "--userns", value, "busybox", "true");
        Assert.NotEqual(0, code);
        Assert.Contains("--userns", e);
        Assert.Contains(message, e);
        Assert.DoesNotContain("   at ", e); // no stack trace
        _r.AssertNoContainers();
    }

    [Fact]
    public void Userns_WithHostNetwork_IsRefused()
    {
        var (code, _, e) = _r.Cli("run", "--rm", "--userns", "100000:65536", "--network", "host", "busybox", "true");
        Assert.NotEqual(0, code);
        Assert.Contains("--userns with --network host is not supported", e);
        _r.AssertNoContainers();
    }

    private string PidOf(string id)
    {
        var (_, o, _) = _r.Cli("state", id);
        var m = System.Text.RegularExpressions.Regex.Match(o, "\"pid\"\\s*:\\s*(\\d+)");
        Assert.True(m.Success, o);
        return m.Groups[1].Value;
    }

    private static (int Uid, int Gid) Owner(string path)
    {
        // stat(1) on the host: the owner as stored on disk, outside any user namespace.
        var psi = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u %g", path]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var parts = p.StandardOutput.ReadToEnd().Split(' ', StringSplitOptions.TrimEntries);
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"stat {path} failed");
        return (int.Parse(parts[0]), int.Parse(parts[1]));
    }
}
