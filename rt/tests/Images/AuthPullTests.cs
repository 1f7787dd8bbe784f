using System.Text;
using Tinyo.Rt.Images;
using Tinyo.Rt.Tests.Fixtures;

namespace Tinyo.Rt.Tests.Images;

/// <summary>
/// Pulls that need authentication: docker-registry in token mode (the Bearer flow of Docker Hub) with a test token
/// endpoint, and in htpasswd mode (Basic). Credentials come from a temp DOCKER_CONFIG. DOCKER_CONFIG is process-wide,
/// so these tests are one collection that does not run in parallel with itself.
/// </summary>
[Collection(nameof(AuthPullTests))]
public class AuthPullTests
{
    private static string WriteDockerConfig(string dir, string host, string userPass)
    {
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes(userPass));
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"auths\":{\"http://" + host + "/v1/\":{\"auth\":\"" + auth + "\"}}}");
        return dir;
    }

    private static async Task<T> WithDockerConfig<T>(string? dir, Func<Task<T>> body)
    {
        var saved = Environment.GetEnvironmentVariable("DOCKER_CONFIG");
        Environment.SetEnvironmentVariable("DOCKER_CONFIG", dir);
        try
        {
            return await body();
        }
        finally
        {
            Environment.SetEnvironmentVariable("DOCKER_CONFIG", saved);
        }
    }

    [Fact]
    public async Task BearerTokenFlowAnonymous()
    {
        var img = BusyboxImage.Get();
        using var authDir = new TempDir();
        using var tokens = new TokenServer(authDir.Path);
        using var registry = new TestRegistry(tokens.AuthYaml);
        registry.Push(img.Layout, "latest", "busybox:latest");
        using var emptyConfig = new TempDir();
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var rec = await WithDockerConfig(emptyConfig.Path,
            () => new Puller(new ImageStore(root)).PullAsync(ImageReference.Parse($"{registry.Host}/busybox")));
        PullAssert.BusyboxStored(root, img, rec);
        Assert.Contains(tokens.Requests, r => r.Query.Contains("scope=repository%3Abusybox%3Apull") && r.Query.Contains("service=" + TokenServer.Service));
    }

    [Fact]
    public async Task BearerTokenFlowWithCredentials()
    {
        var img = BusyboxImage.Get();
        using var authDir = new TempDir();
        using var tokens = new TokenServer(authDir.Path) { RequiredUser = "alice:s3cret" };
        using var registry = new TestRegistry(tokens.AuthYaml);
        registry.Push(img.Layout, "latest", "private/busybox:latest", creds: "alice:s3cret");
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var reference = ImageReference.Parse($"{registry.Host}/private/busybox");

        using var emptyConfig = new TempDir();
        var e = await Assert.ThrowsAsync<RtException>(() => WithDockerConfig(emptyConfig.Path,
            () => new Puller(new ImageStore(root)).PullAsync(reference)));
        Assert.Contains("refused access", e.Message);
        Assert.Contains("no credentials", e.Message);
        Assert.Empty(new ImageStore(root).ListImages());

        using var config = new TempDir();
        WriteDockerConfig(config.Path, registry.Host, "alice:s3cret");
        var rec = await WithDockerConfig(config.Path, () => new Puller(new ImageStore(root)).PullAsync(reference));
        PullAssert.BusyboxStored(root, img, rec);
        Assert.Contains(tokens.Requests, r => r.Authenticated);
    }

    [Fact]
    public async Task BasicAuthWithDockerConfig()
    {
        var img = BusyboxImage.Get();
        using var authDir = new TempDir();
        var htpasswd = Path.Combine(authDir.Path, "htpasswd");
        File.WriteAllText(htpasswd, TestPaths.Check("htpasswd", "-Bbn", "bob", "pa:ss w0rd"));
        using var registry = new TestRegistry($"""
            auth:
              htpasswd:
                realm: tinyo-test
                path: {htpasswd}
            """);
        registry.Push(img.Layout, "latest", "busybox:latest", creds: "bob:pa:ss w0rd");
        using var dir = new TempDir();
        var root = new RuntimeRoot(dir.Path);
        var reference = ImageReference.Parse($"{registry.Host}/busybox:latest");

        using var emptyConfig = new TempDir();
        var e = await Assert.ThrowsAsync<RtException>(() => WithDockerConfig(emptyConfig.Path,
            () => new Puller(new ImageStore(root)).PullAsync(reference)));
        Assert.Contains("requires a login", e.Message);

        using var wrong = new TempDir();
        WriteDockerConfig(wrong.Path, registry.Host, "bob:wrong");
        e = await Assert.ThrowsAsync<RtException>(() => WithDockerConfig(wrong.Path,
            () => new Puller(new ImageStore(root)).PullAsync(reference)));
        Assert.Contains("refused the credentials", e.Message);
        Assert.Empty(new ImageStore(root).ListImages());

        using var config = new TempDir();
        WriteDockerConfig(config.Path, registry.Host, "bob:pa:ss w0rd");
        var rec = await WithDockerConfig(config.Path, () => new Puller(new ImageStore(root)).PullAsync(reference));
        PullAssert.BusyboxStored(root, img, rec);

        // The same through the binary, DOCKER_CONFIG in its environment.
        using var dir2 = new TempDir();
        var (code, stdout, stderr) = TestPaths.Run(TestPaths.Tinyort, ["--root", dir2.Path, "pull", reference.ToString()],
            new Dictionary<string, string> { ["DOCKER_CONFIG"] = config.Path });
        Assert.True(code == 0, stderr);
        Assert.Contains(img.ManifestDigest, stdout);
        (code, _, stderr) = TestPaths.Run(TestPaths.Tinyort, ["--root", dir2.Path, "pull", reference.ToString()],
            new Dictionary<string, string> { ["DOCKER_CONFIG"] = emptyConfig.Path });
        Assert.Equal(1, code);
        Assert.StartsWith("tinyort: registry " + registry.Host + " requires a login", stderr);
        Assert.Single(stderr.TrimEnd().Split('\n'));
    }
}
