using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tinyo.Ctl.Client;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// The API and statefile findings of the hostile-user probe (issue 10, item 7), through the real tio, tinyonode and
/// tinyokv: each test fails without its fix.
/// </summary>
[Collection("e2e")]
public class HostileUserTests
{
    private static void Ok((int Code, string Out, string Err) r, string what)
        => Assert.True(r.Code == 0, $"{what}: exit {r.Code}: {r.Out}{r.Err}");

    private static async Task<int> Status(NodeClient c) => (await c.SendAsync("GET", "/v1/apps", null)).Status;

    [Fact]
    public async Task ARemovedUsersTokenStaysDeadWhenTheNameComesBackAndAfterARestart()
    {
        await using var n = await TioNode.InitAsync();
        var admin = n.Api(n.SavedToken());
        await admin.UserAddAsync("bob", "bobs-password-1");
        var oldBob = (await n.Api().LoginAsync("bob", "bobs-password-1")).Token;
        Assert.Equal(200, await Status(n.Api(oldBob)));
        await admin.UserRemoveAsync("bob");
        Assert.Equal(401, await Status(n.Api(oldBob)));
        await admin.UserAddAsync("bob", "bobs-password-2");
        Assert.Equal(401, await Status(n.Api(oldBob))); // the probe: this answered 200
        var newBob = (await n.Api().LoginAsync("bob", "bobs-password-2")).Token;
        Assert.Equal(200, await Status(n.Api(newBob)));

        // The node and the KV restarted on the same root: the binding is in the KV, not in the node's memory.
        Ok(await n.Tio(["down"]), "down");
        Ok(await n.Tio(["++", "-net", "testnet", "-u", "admin", "-p", TioNode.Password]), "up again");
        Assert.Equal(401, await Status(n.Api(oldBob)));
        Assert.Equal(200, await Status(n.Api(newBob)));
    }

    [Fact]
    public async Task TheTcpListenerSpeaksTlsPinnedByTioPlusPlus()
    {
        var port = TioNode.FreePort();
        await using var n = await TioNode.InitAsync("--listen-tcp", $"127.0.0.1:{port}");
        var host = $"tcp://127.0.0.1:{port}";
        var pin = (await n.Api(n.SavedToken()).StatusAsync()).TlsPin;
        Assert.Matches("^sha256:[0-9a-f]{64}$", pin);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, OperatingSystem.IsLinux() ? File.GetUnixFileMode(Path.Combine(n.Root, "api.key")) : 0);
        Assert.Contains(pin!, n.Log("tinyonode"));

        // Plain HTTP to the port gets no HTTP answer: it is TLS.
        using (var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await raw.ConnectAsync(IPAddress.Loopback, port);
            await raw.SendAsync("GET /v1/version HTTP/1.1\r\nConnection: close\r\n\r\n"u8.ToArray());
            var buf = new byte[256];
            using var cts = new CancellationTokenSource(10_000);
            var got = await raw.ReceiveAsync(buf, cts.Token);
            Assert.DoesNotContain("HTTP/1.1", Encoding.Latin1.GetString(buf, 0, got));
        }

        // tio ++ pinned the key for the address: tio over TCP works with no further step.
        Ok(await n.Tio(["login", "--host", host, "-u", "admin", "-p", TioNode.Password]), "login over TLS");
        Ok(await n.Tio(["--host", host, "ls"]), "ls over TLS");
        // No pin, a self-signed certificate: refused, with the key to compare and the command to pin it.
        var e = await Assert.ThrowsAsync<UntrustedNodeException>(() => new NodeClient(NodeAddress.Parse(host)).VersionAsync());
        Assert.Equal(pin, e.Presented);
        Assert.Contains($"--fingerprint {pin}", e.Message);
        // Another pin (a man in the middle, or a replaced certificate): refused.
        var wrong = "sha256:" + new string('0', 64);
        var w = await Assert.ThrowsAsync<UntrustedNodeException>(() => new NodeClient(NodeAddress.Parse(host)) { Pin = wrong }.VersionAsync());
        Assert.Contains("not the pinned", w.Message);

        // A remote machine (a config without the pin): refused, then pinned with --fingerprint.
        var other = new Dictionary<string, string> { ["XDG_CONFIG_HOME"] = Path.Combine(n.Dir, "remote-config") };
        var refused = await n.Tio(["login", "--host", host, "-u", "admin", "-p", TioNode.Password], extraEnv: other);
        Assert.NotEqual(0, refused.Code);
        Assert.Contains($"--fingerprint {pin}", refused.Err);
        Assert.NotEqual(0, (await n.Tio(["login", "--host", host, "-u", "admin", "-p", TioNode.Password, "--fingerprint", wrong], extraEnv: other)).Code);
        Ok(await n.Tio(["login", "--host", host, "-u", "admin", "-p", TioNode.Password, "--fingerprint", pin!], extraEnv: other), "login with --fingerprint");
        Ok(await n.Tio(["--host", host, "ls"], extraEnv: other), "ls with the pinned key");

        // The node's own API port cannot be published by an app.
        var yml = Path.Combine(n.Dir, "grab.yml");
        await File.WriteAllTextAsync(yml, $"container: alpine\nport: \"{port}:80\"\n");
        var grab = await n.Tio(["+", yml]);
        Assert.Equal(65, grab.Code);
        Assert.Contains($"port {port} is the node's API port", grab.Err);
        Assert.Empty(await n.Api(n.SavedToken()).AppsAsync());
    }

    [Fact]
    public async Task BadStatefilesAreRefusedAtOnceAndEchoedSafely()
    {
        await using var n = await TioNode.InitAsync();
        var sw = Stopwatch.StartNew();
        var zero = await n.Tio(["+", "/dev/zero"]);
        Assert.Equal(65, zero.Code);
        Assert.Contains("not a regular file", zero.Err);
        var fifo = Path.Combine(n.Dir, "app.yml");
        using (var p = Process.Start("mkfifo", [fifo])) await p.WaitForExitAsync();
        var pipe = await n.Tio(["+", fifo]);
        Assert.Equal(65, pipe.Code);
        Assert.Contains("not a regular file", pipe.Err);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}"); // the probe: /dev/zero grew tio to 2 GB, the FIFO hung

        var big = await n.Tio(["+", "-"], stdin: "container: alpine\n#" + new string('x', 1 << 20));
        Assert.Equal(65, big.Code);
        Assert.Contains("larger than 1 MiB", big.Err);

        var bad = Path.Combine(n.Dir, "bad.yml");
        await File.WriteAllTextAsync(bad, "container: \"../../etc/passwd\"\n");
        var path = await n.Tio(["+", bad]);
        Assert.Equal(65, path.Code);
        Assert.Contains("bad.yml:1:12: container: '../../etc/passwd' is not a valid image reference", path.Err);
        await File.WriteAllTextAsync(bad, "container: alpine\nenv:\n  A: \"x\\0y\"\n");
        Assert.Contains("bad.yml:3:6: env.A: contains a NUL byte", (await n.Tio(["+", bad])).Err);

        // The node checks too, for a client that skipped tio's checks: same errors, with file:line:col.
        var client = n.Api(n.SavedToken());
        var e = await Assert.ThrowsAsync<ApiException>(() => client.ApplyAsync("x.yml", "container: alpine\ncommand: [sh, \"a\\0b\"]\n"));
        Assert.Equal((422, 2L, "command[1]"), (e.Status, e.Body!.Line, e.Body.Field));
        var alias = new StringBuilder("container: alpine\nentrypoint: [&big ").Append('a', 100_000).Append("]\ncommand: [");
        for (var i = 0; i < 1000; i++) alias.Append(i == 0 ? "*big" : ", *big");
        var a = await Assert.ThrowsAsync<ApiException>(() => client.ApplyAsync("x.yml", alias.Append("]\n").ToString()));
        Assert.Equal(422, a.Status);
        Assert.Contains("expands to more than 1 MiB", a.Message);
        Assert.Empty(await client.AppsAsync());

        // Escape sequences in names reach the terminal as text, from tio's own checks and from the node's answers.
        await File.WriteAllTextAsync(bad, "name: \"x\\e[2J\\e]0;owned\\a\"\ncontainer: alpine\n");
        var esc = await n.Tio(["+", bad]);
        Assert.Equal(65, esc.Code);
        Assert.DoesNotContain('\u001b', esc.Err);
        Assert.Contains("x\\x1b[2J\\x1b]0;owned\\x07", esc.Err);
        var rm = await n.Tio(["-", "\u001b[31mred"]);
        Assert.NotEqual(0, rm.Code);
        Assert.DoesNotContain('\u001b', rm.Out + rm.Err);
    }
}
