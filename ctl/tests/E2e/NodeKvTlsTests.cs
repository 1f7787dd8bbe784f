using System.Diagnostics;
using System.Text;
using Tinyo.Ctl.Client;
using Tinyo.Kv.Tests.Cluster;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// tinyonode against a real tinyokv that serves mutual TLS on its client port: the node's --kv-cacert, --kv-cert,
/// --kv-key reach the KV client, and wrong settings fail with messages that name TLS (never a stack trace).
/// </summary>
[Collection("e2e")]
public sealed class NodeKvTlsTests : IAsyncLifetime
{
    private const string Token = "node-kv-tls-test-token";
    private readonly TestPki pki = new("tinyokv node-tls CA");
    private readonly TestPki stranger = new("some other CA");
    private readonly string dir = Directory.CreateTempSubdirectory("tio-kvtls-").FullName;
    private readonly List<Daemon> daemons = [];
    private string tokenFile = "";
    private int clientPort;

    public async Task InitializeAsync()
    {
        tokenFile = Path.Combine(dir, "kv.token");
        await File.WriteAllTextAsync(tokenFile, Token);
        var server = pki.Issue("kv");
        clientPort = TioNode.FreePort();
        var kv = Start("tinyokv", ["serve", "--name", "m1", "--data-dir", Path.Combine(dir, "kv"), "--bootstrap",
            "--listen-peer", $"127.0.0.1:{TioNode.FreePort()}", "--listen-client", $"127.0.0.1:{clientPort}",
            "--token-file", tokenFile, "--idle-trim", "0",
            "--cert-file", server.Cert, "--key-file", server.Key, "--trusted-ca-file", pki.CaFile, "--client-cert-auth"]);
        // Serving once the client port accepts connections (the handshake is the node's business).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                using var s = new System.Net.Sockets.TcpClient();
                await s.ConnectAsync(System.Net.IPAddress.Loopback, clientPort);
                break;
            }
            catch (System.Net.Sockets.SocketException) when (DateTime.UtcNow < deadline && !kv.Process.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var d in daemons) await d.StopAsync();
        pki.Dispose();
        stranger.Dispose();
        try
        {
            Directory.Delete(dir, true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task NodeWithCaCertAndKeyWorksOthersAreToldAboutTls()
    {
        var client = pki.Issue("node");

        // The right CA, certificate and key: init (net + admin in the KV), login, list users.
        var good = await StartNodeAsync("good", ["--kv-cacert", pki.CaFile, "--kv-cert", client.Cert, "--kv-key", client.Key]);
        var api = Api(good.Socket);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                await api.InitAsync(new Api.InitRequest("tlsnet", "admin", TioNode.Password));
                break;
            }
            catch (ApiException e) when (e.Status == 503 && DateTime.UtcNow < deadline && !e.Message.Contains("TLS"))
            {
                await Task.Delay(200); // the one-member group is still electing itself
            }
        }
        var login = await api.LoginAsync("admin", TioNode.Password);
        var users = await Api(good.Socket, login.Token).UsersAsync();
        Assert.Contains(users, u => u.Name == "admin");
        Assert.Contains("over TLS", good.Err);

        // No client certificate: the KV refuses it; the API says so and points at the node's TLS flags.
        var noCert = await StartNodeAsync("nocert", ["--kv-cacert", pki.CaFile]);
        var e1 = await Assert.ThrowsAsync<ApiException>(() => Api(noCert.Socket).LoginAsync("admin", TioNode.Password));
        Assert.Equal(503, e1.Status);
        Assert.Contains("client certificate refused", e1.Message);
        Assert.Contains("--kv-cert", e1.Message);
        Assert.Contains("TLS", e1.Message);

        // Trusting another CA: the node refuses the KV's certificate.
        var wrongCa = await StartNodeAsync("wrongca", ["--kv-cacert", stranger.CaFile, "--kv-cert", client.Cert, "--kv-key", client.Key]);
        var e2 = await Assert.ThrowsAsync<ApiException>(() => Api(wrongCa.Socket).LoginAsync("admin", TioNode.Password));
        Assert.Equal(503, e2.Status);
        Assert.Contains("TLS handshake", e2.Message);
        Assert.Contains("not trusted", e2.Message);

        // No TLS at all: the KV only speaks TLS, and the node says which flags would fix it.
        var plain = await StartNodeAsync("plain", []);
        var e3 = await Assert.ThrowsAsync<ApiException>(() => Api(plain.Socket).LoginAsync("admin", TioNode.Password));
        Assert.Equal(503, e3.Status);
        Assert.Contains("--kv-cacert", e3.Message);
        foreach (var d in daemons) Assert.DoesNotContain("   at ", d.Err);
    }

    [Fact]
    public async Task BadTlsFilesStopTheNodeAtStartWithTheFlagNamed()
    {
        var client = pki.Issue("node");
        var server = pki.Issue("other");
        var garbage = Path.Combine(dir, "garbage.pem");
        await File.WriteAllTextAsync(garbage, "not a certificate\n");
        var missing = Path.Combine(dir, "missing.pem");
        (string[] Args, string Error)[] cases =
        [
            (["--kv-cacert", missing], $"--kv-cacert: {missing} does not exist"),
            (["--kv-cacert", pki.CaFile, "--kv-cert", client.Cert, "--kv-key", missing], $"--kv-key: {missing} does not exist"),
            (["--kv-cert", client.Cert], "--kv-cert and --kv-key go together"),
            (["--kv-key", client.Key], "--kv-cert and --kv-key go together"),
            (["--kv-cacert", garbage], "holds no PEM certificate"),
            // A key that is not the certificate's.
            (["--kv-cacert", pki.CaFile, "--kv-cert", client.Cert, "--kv-key", server.Key], "cannot load certificate"),
            (["--kv-cacert", pki.CaFile, "--kv-cert", garbage, "--kv-key", client.Key], "cannot load certificate"),
        ];
        var i = 0;
        foreach (var (args, error) in cases)
        {
            var d = Start("tinyonode", NodeArgs($"bad{i++}", args));
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await d.Process.WaitForExitAsync(cts.Token);
            var err = d.Err;
            Assert.True(d.Process.ExitCode == 1, $"{string.Join(' ', args)}: exit {d.Process.ExitCode}: {err}");
            Assert.Contains(error, err);
            Assert.StartsWith("tinyonode: ", err);
            Assert.DoesNotContain("   at ", err);
            Assert.False(File.Exists(Path.Combine(dir, $"bad{i - 1}.sock")));
        }
    }

    private static NodeClient Api(string socket, string? token = null) => new(new NodeAddress(socket, null), token);

    private string[] NodeArgs(string name, string[] tls)
        => ["serve", "--root", Path.Combine(dir, name), "--socket", Path.Combine(dir, name + ".sock"), "--name", name,
            "--kv-endpoints", $"127.0.0.1:{clientPort}", "--kv-token-file", tokenFile, "--idle-trim", "0", .. tls];

    private async Task<Daemon> StartNodeAsync(string name, string[] tls)
    {
        var d = Start("tinyonode", NodeArgs(name, tls));
        d.Socket = Path.Combine(dir, name + ".sock");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            Assert.False(d.Process.HasExited, $"tinyonode {name} exited: {d.Err}");
            if (File.Exists(d.Socket))
            {
                try
                {
                    await Api(d.Socket).VersionAsync();
                    return d;
                }
                catch (NodeUnreachableException) when (DateTime.UtcNow < deadline)
                {
                }
            }
            Assert.True(DateTime.UtcNow < deadline, $"tinyonode {name} did not come up: {d.Err}");
            await Task.Delay(100);
        }
    }

    private Daemon Start(string binary, string[] args)
    {
        var psi = Binaries.Start(binary);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        foreach (var k in (string[])["TINYOKV_TOKEN", "TINYO_KV_CACERT", "TINYO_KV_CERT", "TINYO_KV_KEY", "TINYO_ROOT", "TINYO_SOCKET"])
            psi.Environment.Remove(k);
        psi.Environment["TINYO_OFFLINE"] = "1";
        var d = new Daemon(Process.Start(psi)!);
        daemons.Add(d);
        return d;
    }

    /// <summary>A process this test started, its stderr collected; stopped by its own PID.</summary>
    private sealed class Daemon
    {
        private readonly StringBuilder err = new();

        public Daemon(Process p)
        {
            Process = p;
            p.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (err) err.AppendLine(e.Data);
            };
            p.OutputDataReceived += (_, _) => { };
            p.BeginErrorReadLine();
            p.BeginOutputReadLine();
        }

        public Process Process { get; }
        public string Socket { get; set; } = "";

        public string Err
        {
            get
            {
                lock (err) return err.ToString();
            }
        }

        public async Task StopAsync()
        {
            try
            {
                if (Process.HasExited) return;
                Tinyo.Linux.Libc.Kill(Process.Id, Tinyo.Linux.Libc.SIGTERM);
            }
            catch (Exception)
            {
            }
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await Process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                Process.Kill(entireProcessTree: true);
                await Process.WaitForExitAsync();
            }
            Process.Dispose();
        }
    }
}
