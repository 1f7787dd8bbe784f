using System.Text;
using System.Text.Json;
using Tinyo.Api;
using Tinyo.Api.Statefile;
using Tinyo.Node.Api;
using Tinyo.Node.Http;
using Tinyo.Node.Security;
using Tinyo.Node.Store;
using Tinyo.Node.Tests.Network;

namespace Tinyo.Node.Tests.Storage;

/// <summary>
/// <c>POST /v1/apps/NAME/dup</c> against a real tinyokv: the replica count is raised by compare-and-swap (an apply
/// written between the endpoint's read and its write is kept, with the count added on top; concurrent dups all
/// count), and re-applying the statefile afterwards sets the count back to the file's (the file wins).
/// </summary>
public sealed class DupEndpointTests
{
    private static readonly ApiJson J = ApiJson.Default;

    [Fact]
    public async Task An_update_lands_on_top_of_an_apply_written_between_its_read_and_its_write()
    {
        await using var kv = await KvProcess.StartAsync();
        var store = new StateStore(kv.Client());
        var apps = new DesiredApps(store, _ => { });
        var now = DateTimeOffset.UtcNow;
        var v1 = Statefile.Parse("name: web\ncontainer: busybox:1\nreplicas: 2\n", "web.yml")[0];
        var v2 = Statefile.Parse("name: web\ncontainer: busybox:2\nreplicas: 2\n", "web.yml")[0];
        await apps.PutAsync([new AppRecord(v1, "web.yml", now, now)], default);

        int calls = 0;
        var done = await apps.UpdateAsync("web", rec =>
        {
            // The first time, an apply of busybox:2 lands after our read and before our write.
            if (++calls == 1) apps.PutAsync([new AppRecord(v2, "web.yml", now, now)], default).GetAwaiter().GetResult();
            return rec with { Spec = Statefile.Parse($"name: web\ncontainer: {rec.Spec.Image}\nreplicas: {rec.Spec.Replicas + 3}\n", "web.yml")[0] };
        }, default);

        Assert.Equal(2, calls); // the first write was refused: the record had changed under it
        Assert.NotNull(done);
        var stored = await store.GetAsync(Keys.Apps + "web", J.AppRecord, default);
        Assert.Equal(v2.Image, stored!.Spec.Image); // the apply's change is kept...
        Assert.Equal(5, stored.Spec.Replicas);      // ...and the 3 more replicas are on top of it
        Assert.Null(await apps.UpdateAsync("nope", r => r, default));
    }

    [Fact]
    public async Task Concurrent_dups_lose_no_update_and_re_applying_the_file_sets_the_count_back()
    {
        await using var kv = await KvProcess.StartAsync();
        using var dir = new TempDirectory();
        var store = new StateStore(kv.Client());
        var api = new NodeApi(new NodeOptions
        {
            Root = dir.Path, Socket = Path.Combine(dir.Path, "node.sock"), KvEndpoints = [], KvToken = "", Log = _ => { },
        }, store, SecretBox.Open(Path.Combine(dir.Path, "secret.key")));
        Success(await Call(api, "POST", "/v1/init", JsonSerializer.Serialize(new InitRequest("demo", "admin", "a long password"), J.InitRequest)));
        var login = await Call(api, "POST", "/v1/login", JsonSerializer.Serialize(new LoginRequest("admin", "a long password"), J.LoginRequest));
        Success(login);
        var token = JsonSerializer.Deserialize(login.Body, J.LoginResponse)!.Token;

        string File(string image, int replicas) => JsonSerializer.Serialize(new ApplyRequest("web.yml", $"name: web\ncontainer: {image}\nreplicas: {replicas}\n"), J.ApplyRequest);
        Success(await Call(api, "POST", "/v1/apps", File("busybox:1", 2), token));

        // 10 dups of 1 at once: a read-then-write would lose some of them to each other; compare-and-swap loses none.
        var dup = JsonSerializer.Serialize(new DupRequest(1), J.DupRequest);
        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(() => Call(api, "POST", "/v1/apps/web/dup", dup, token))));
        Assert.All(responses, Success);
        var counts = responses.Select(r => JsonSerializer.Deserialize(r.Body, J.DupResponse)!).ToList();
        Assert.Equal(Enumerable.Range(3, 10), counts.Select(c => c.Replicas).Order()); // each saw its own count
        Assert.All(counts, c => Assert.Equal(c.Before + 1, c.Replicas));
        var stored = (await store.GetAsync(Keys.Apps + "web", J.AppRecord, default))!;
        Assert.Equal(12, stored.Spec.Replicas);
        Assert.Equal("busybox:1", stored.Spec.Image.Split('/')[^1]);

        // Re-applying the file sets the count back to the file's: the file is the desired state.
        var reapply = await Call(api, "POST", "/v1/apps", File("busybox:1", 2), token);
        Success(reapply);
        Assert.Equal("updated", JsonSerializer.Deserialize(reapply.Body, J.ListApplyResult)![0].Action);
        Assert.Equal(2, (await store.GetAsync(Keys.Apps + "web", J.AppRecord, default))!.Spec.Replicas);
    }

    private static void Success(HttpResponse r) => Assert.True(r.Status is >= 200 and < 300, $"{r.Status}: {Encoding.UTF8.GetString(r.Body)}");

    private static Task<HttpResponse> Call(NodeApi api, string method, string path, string body, string? token = null)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (token is not null) headers["authorization"] = "Bearer " + token;
        return api.HandleAsync(new HttpRequest
        {
            Method = method, Path = path, Version = "HTTP/1.1", Headers = headers, Body = Encoding.UTF8.GetBytes(body),
            Local = true, PeerUid = 0,
        }, default);
    }

    private sealed class TempDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("tinyo-dup-api-").FullName;
        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
