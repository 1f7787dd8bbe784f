using System.Diagnostics;
using System.Net.Http;

namespace Tinyo.Rt.Tests.Fixtures;

/// <summary>
/// Debian's docker-registry (github.com/docker/distribution) on a free loopback port with a temp config and storage
/// dir. Killed by PID and its dir deleted on dispose. <paramref name="authYaml"/> is an optional <c>auth:</c> section.
/// </summary>
public sealed class TestRegistry : IDisposable
{
    private readonly TempDir _dir = new("tinyo-registry-");
    private readonly System.Diagnostics.Process _process;

    public TestRegistry(string? authYaml = null, bool tls = false)
    {
        Port = TestPaths.FreePort();
        var config = System.IO.Path.Combine(_dir.Path, "config.yml");
        var tlsYaml = "";
        if (tls)
        {
            // A self-signed certificate for 127.0.0.1: clients must treat the loopback registry as insecure.
            using var key = System.Security.Cryptography.RSA.Create(2048);
            var req = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=127.0.0.1", key,
                System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
            var san = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
            san.AddIpAddress(System.Net.IPAddress.Loopback);
            req.CertificateExtensions.Add(san.Build());
            using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
            File.WriteAllText(System.IO.Path.Combine(_dir.Path, "tls.crt"), cert.ExportCertificatePem());
            File.WriteAllText(System.IO.Path.Combine(_dir.Path, "tls.key"), key.ExportPkcs8PrivateKeyPem());
            tlsYaml = $"""

                  tls:
                    certificate: {_dir.Path}/tls.crt
                    key: {_dir.Path}/tls.key
                """;
        }
        Scheme = tls ? "https" : "http";
        File.WriteAllText(config, $"""
            version: 0.1
            log:
              level: error
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: {_dir.Path}/data
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:{Port}{tlsYaml}
            {authYaml ?? ""}
            """);
        _process = TestPaths.Start("docker-registry", ["serve", config]);
        _process.StandardOutput.ReadToEndAsync();
        var stderr = _process.StandardError.ReadToEndAsync();
        using var http = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true });
        var deadline = Environment.TickCount64 + 10_000;
        while (true)
        {
            try
            {
                using var resp = http.GetAsync($"{Scheme}://127.0.0.1:{Port}/v2/").GetAwaiter().GetResult();
                break; // 200 or 401: it answers
            }
            catch (HttpRequestException) when (Environment.TickCount64 < deadline && !_process.HasExited)
            {
                Thread.Sleep(50);
            }
            catch (HttpRequestException)
            {
                Dispose();
                throw new InvalidOperationException("docker-registry did not start: " + (stderr.IsCompleted ? stderr.Result : ""));
            }
        }
    }

    public int Port { get; }

    /// <summary>http, or https for a TLS registry.</summary>
    public string Scheme { get; }

    /// <summary><c>127.0.0.1:PORT</c>, the domain part of image references.</summary>
    public string Host => $"127.0.0.1:{Port}";

    /// <summary>A directory the test may put files in (auth material); deleted with the registry.</summary>
    public string Dir => _dir.Path;

    /// <summary>Pushes an OCI layout's tag with skopeo (an independent client) to <c>HOST/REPO:TAG</c>.</summary>
    public void Push(string layout, string srcTag, string repoTag, string? creds = null, bool all = false)
    {
        var args = new List<string> { "copy", "-q", "--dest-tls-verify=false" };
        if (all) args.Add("--all");
        if (creds is not null) { args.Add("--dest-creds"); args.Add(creds); }
        args.Add($"oci:{layout}:{srcTag}");
        args.Add($"docker://{Host}/{repoTag}");
        var (code, o, e) = TestPaths.Run("skopeo", args);
        if (code != 0) throw new InvalidOperationException($"skopeo copy failed ({code}): {e}{o}");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        _dir.Dispose();
    }
}
