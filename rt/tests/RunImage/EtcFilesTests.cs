using Tinyo.Rt.Rootfs;

namespace Tinyo.Rt.Tests.RunImage;

/// <summary>/etc/hosts, /etc/hostname, /etc/resolv.conf and HOME of image containers (docker's semantics).</summary>
[Collection("containers")]
public sealed class EtcFilesTests : IDisposable
{
    private readonly ImageRoot _r = new();

    public void Dispose() => _r.Dispose();

    [Fact]
    public void Container_GetsHostsHostnameResolvConf_ById_AndNothingLeaks()
    {
        var (code, o, e) = _r.Cli("run", "--name", "etc", "busybox", "sh", "-c",
            "cat /etc/hostname; hostname; echo ---; cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; echo $HOME; ping -c1 -W1 $(hostname) >/dev/null 2>&1; echo ping=$?");
        Assert.True(code == 0, e);
        var id = Assert.Single(_r.ContainerIds());
        Assert.Matches("^[0-9a-f]{12}$", id);
        var parts = o.Split("---\n");
        Assert.Equal($"{id}\n{id}\n", parts[0]);
        Assert.Contains("127.0.0.1\tlocalhost\n", parts[1]);
        Assert.Contains("::1\tlocalhost ip6-localhost ip6-loopback\n", parts[1]);
        Assert.EndsWith($"127.0.1.1\t{id}\n", parts[1]);
        Assert.Equal(EtcFiles.ResolvConfFor(File.ReadAllText("/etc/resolv.conf"), hostNetwork: false,
            File.Exists("/run/systemd/resolve/resolv.conf") ? File.ReadAllText("/run/systemd/resolve/resolv.conf") : null), parts[2]);
        Assert.Equal("/root\n", parts[3].Split('\n')[0] + "\n");
        Assert.EndsWith("ping=0\n", o); // the hostname resolves and answers on loopback
        // The files live in the container's directory (not in the image layers or its upper dir) and go with rm.
        var dir = Path.Combine(_r.Root.Containers, id);
        Assert.Equal(id + "\n", File.ReadAllText(Path.Combine(dir, "hostname")));
        // (busybox has no /etc/hosts: the upper dir holds only the empty mount point init created)
        var upperHosts = Path.Combine(dir, "upper", "etc", "hosts");
        Assert.True(!File.Exists(upperHosts) || new FileInfo(upperHosts).Length == 0);
        var layer = Directory.GetDirectories(_r.Root.Layers).Single();
        Assert.Equal("busybox\n", File.ReadAllText(Path.Combine(layer, "etc", "hostname")));
        Assert.Equal(0, _r.Cli("rm", "etc").Code);
        _r.AssertGone(id);
    }

    [Fact]
    public void Hostname_Option_IsWrittenToHostsAndHostname_FilesAreWritable()
    {
        var (code, o, e) = _r.Cli("run", "--rm", "--hostname", "web1", "busybox", "sh", "-c",
            "cat /etc/hostname; grep web1 /etc/hosts; echo '10.0.0.9 extra' >> /etc/hosts && tail -1 /etc/hosts");
        Assert.True(code == 0, e);
        Assert.Equal("web1\n127.0.1.1\tweb1\n10.0.0.9 extra\n", o);
        _r.AssertNoContainers();
    }

    [Fact]
    public void HostNetwork_CopiesHostHosts()
    {
        var (code, o, e) = _r.Cli("run", "--rm", "--network", "host", "--hostname", "hn", "busybox", "cat", "/etc/hosts", "/etc/resolv.conf");
        Assert.True(code == 0, e);
        var hosts = File.ReadAllText("/etc/hosts");
        Assert.StartsWith(hosts.TrimEnd('\n') + "\n127.0.1.1\thn\n", o);
        Assert.EndsWith(EtcFiles.ResolvConfFor(File.ReadAllText("/etc/resolv.conf"), hostNetwork: true), o);
    }

    [Fact]
    public void Home_FromPasswd_ImageEnv_CommandLine_OrSlash()
    {
        // nobody's home in the busybox image is /home; uid 4242 has no passwd entry: "/" as docker.
        Assert.Equal("/home\n", _r.Cli("run", "--rm", "-u", "nobody", "busybox", "sh", "-c", "echo $HOME").Out);
        Assert.Equal("/home\n", _r.Cli("run", "--rm", "-u", "65534", "busybox", "sh", "-c", "echo $HOME").Out);
        Assert.Equal("/\n", _r.Cli("run", "--rm", "-u", "4242", "busybox", "sh", "-c", "echo $HOME").Out);
        Assert.Equal("/x\n", _r.Cli("run", "--rm", "-e", "HOME=/x", "-u", "nobody", "busybox", "sh", "-c", "echo $HOME").Out);
        _r.LoadVariant("homeenv", c => c["Env"] = new System.Text.Json.Nodes.JsonArray("PATH=/bin", "HOME=/srv"));
        Assert.Equal("/srv\n", _r.Cli("run", "--rm", "homeenv", "sh", "-c", "echo $HOME").Out);
        _r.AssertNoContainers();
    }

    [Theory]
    [InlineData("nameserver 10.1.2.3\nsearch example.org\n", "nameserver 10.1.2.3\nsearch example.org\n")]
    // systemd-resolved's stub and other loopback resolvers are unreachable from the container's network namespace.
    [InlineData("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n",
        "options edns0 trust-ad\nsearch lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n")]
    [InlineData("nameserver ::1\nnameserver 192.168.1.1 # router\n", "nameserver 192.168.1.1 # router\n")]
    [InlineData("", "nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n")]
    public void ResolvConf_DropsLoopbackNameservers(string host, string expected) =>
        Assert.Equal(expected, EtcFiles.ResolvConfFor(host, hostNetwork: false));

    [Fact]
    public void ResolvConf_SystemdResolvedStub_UsesItsUpstreamList()
    {
        Assert.Equal("nameserver 10.9.9.9\n", EtcFiles.ResolvConfFor("nameserver 127.0.0.53\n", false, "nameserver 10.9.9.9\n"));
        // Host networking reaches the host's loopback: the file is used as it is.
        Assert.Equal("nameserver 127.0.0.53\n", EtcFiles.ResolvConfFor("nameserver 127.0.0.53", true, "nameserver 10.9.9.9\n"));
    }
}
