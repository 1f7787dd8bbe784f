using System.Text;
using Tinyo.Ctl.Client;

namespace Tinyo.Ctl.Tests.E2e;

/// <summary>
/// Users with roles through the real node's API: what an admin, a deployer of this node's cluster, a deployer of
/// another cluster and a viewer may do, route by route, and the bind allow-list a non-admin's host paths must fall in.
/// </summary>
[Collection("e2e")]
[Trait("Category", "Security")]
public sealed class RolesTests
{
    private static async Task<int> Call(NodeClient c, string method, string path, string? json = null)
        => (await c.SendAsync(method, path, json is null ? null : Encoding.UTF8.GetBytes(json))).Status;

    private static string Apply(string name, string? mountSource = null, string? net = null) => System.Text.Json.JsonSerializer.Serialize(new Tinyo.Api.ApplyRequest(
        name + ".yml",
        $"name: {name}\ncontainer: \"alpine:latest\"\ncommand: [\"sleep\", \"1000\"]\n" + (net is null ? "" : $"net: {net}\n") +
        (mountSource is null ? "" : $"mounts:\n  - source: \"{mountSource}\"\n    target: /data\n")), Tinyo.Api.ApiJson.Default.ApplyRequest);

    [Fact]
    public async Task Each_role_gets_exactly_its_routes_and_non_admins_bind_only_allowed_paths()
    {
        await using var n = await TioNode.InitAsync(); // net "testnet": this node's cluster
        var admin = n.Api(n.SavedToken());

        // Adding users: roles checked.
        await admin.UserAddAsync("dep", "deployer-password-1", "deployer", ["testnet"]);
        await admin.UserAddAsync("far", "deployer-password-2", "deployer", ["elsewhere"]);
        await admin.UserAddAsync("view", "viewer-password-1", "viewer");
        Assert.Equal(400, await Call(admin, "POST", "/v1/users", """{"name":"x","password":"long-enough-1","role":"root"}"""));
        Assert.Equal(400, await Call(admin, "POST", "/v1/users", """{"name":"x","password":"long-enough-1","role":"deployer"}"""));
        Assert.Equal(400, await Call(admin, "POST", "/v1/users", """{"name":"x","password":"long-enough-1","role":"viewer","clusters":["testnet"]}"""));
        var users = await admin.UsersAsync();
        Assert.Equal("admin", users.Single(u => u.Name == "admin").Role);
        Assert.Equal(("deployer", "testnet"), (users.Single(u => u.Name == "dep").Role, string.Join(',', users.Single(u => u.Name == "dep").Clusters!)));
        Assert.Equal("viewer", users.Single(u => u.Name == "view").Role);

        var dep = n.Api((await n.Api().LoginAsync("dep", "deployer-password-1")).Token);
        var far = n.Api((await n.Api().LoginAsync("far", "deployer-password-2")).Token);
        var view = n.Api((await n.Api().LoginAsync("view", "viewer-password-1")).Token);

        // Reads: everyone.
        foreach (var c in new[] { admin, dep, far, view })
            foreach (var path in new[] { "/v1/status", "/v1/apps", "/v1/nets", "/v1/secrets", "/v1/binds" })
                Assert.Equal(200, await Call(c, "GET", path));
        // Users, nets, secrets, the allow-list: admins only.
        foreach (var c in new[] { dep, far, view })
        {
            Assert.Equal(403, await Call(c, "GET", "/v1/users"));
            Assert.Equal(403, await Call(c, "POST", "/v1/users", """{"name":"evil","password":"long-enough-1"}"""));
            Assert.Equal(403, await Call(c, "DELETE", "/v1/users/admin"));
            Assert.Equal(403, await Call(c, "POST", "/v1/nets", """{"name":"n2"}"""));
            Assert.Equal(403, await Call(c, "DELETE", "/v1/nets/testnet"));
            Assert.Equal(403, await Call(c, "PUT", "/v1/secrets/s1", """{"value":"aGk="}"""));
            Assert.Equal(403, await Call(c, "PUT", "/v1/binds", """{"paths":["/"]}"""));
        }
        Assert.Equal(3, (await admin.UsersAsync()).Count(u => u.Name is "dep" or "far" or "view"));

        // Apps: the deployer of this cluster; not the other deployer, not the viewer.
        Assert.Equal(200, await Call(dep, "POST", "/v1/apps", Apply("web")));
        foreach (var c in new[] { far, view })
        {
            Assert.Equal(403, await Call(c, "POST", "/v1/apps", Apply("web2")));
            Assert.Equal(403, await Call(c, "DELETE", "/v1/apps/web"));
            Assert.Equal(403, await Call(c, "GET", "/v1/apps/web/logs"));
            Assert.Equal(403, await Call(c, "POST", "/v1/apps/web/exec", """{"command":["true"]}"""));
        }
        Assert.NotEqual(403, await Call(dep, "GET", "/v1/apps/web/logs")); // allowed (404 or a stream: no replica runs here)
        Assert.NotEqual(403, await Call(dep, "POST", "/v1/apps/web/exec", """{"command":["true"]}"""));
        var second = await dep.SendAsync("POST", "/v1/apps", Encoding.UTF8.GetBytes(Apply("web2")));
        Assert.Equal(200, second.Status);

        // An app's own cluster decides (its `net:`), not the node's: the other deployer applies into "elsewhere", and
        // neither deploys into the other's cluster, nor takes over an app of the same name that lives in the other.
        Assert.Equal(201, await Call(admin, "POST", "/v1/nets", """{"name":"elsewhere"}"""));
        Assert.Equal(200, await Call(far, "POST", "/v1/apps", Apply("faraway", net: "elsewhere")));
        Assert.Equal(403, await Call(dep, "POST", "/v1/apps", Apply("sneak", net: "elsewhere")));
        Assert.Equal(403, await Call(far, "POST", "/v1/apps", Apply("sneak", net: "testnet")));
        Assert.Equal(403, await Call(far, "POST", "/v1/apps", Apply("web", net: "elsewhere"))); // web lives in testnet
        Assert.Equal(403, await Call(dep, "DELETE", "/v1/apps/faraway"));
        Assert.Equal(403, await Call(dep, "GET", "/v1/apps/faraway/logs"));
        Assert.Equal(204, await Call(far, "DELETE", "/v1/apps/faraway"));

        // A pipe (stdin: from) between apps placed on two nodes is refused with where; expose: unix with two
        // replicas too (one socket file, one listener).
        var pipe = System.Text.Json.JsonSerializer.Serialize(new Tinyo.Api.ApplyRequest("pipe.yml",
            "name: src\ncontainer: \"alpine:latest\"\nnode: n1\n---\nname: sink\ncontainer: \"alpine:latest\"\nnode: n2\nstdin: {from: src}\n"), Tinyo.Api.ApiJson.Default.ApplyRequest);
        var (pipeStatus, pipeBody) = await admin.SendAsync("POST", "/v1/apps", Encoding.UTF8.GetBytes(pipe));
        Assert.Equal(422, pipeStatus);
        Assert.Contains("a pipe joins two apps on one node", Encoding.UTF8.GetString(pipeBody));
        var two = System.Text.Json.JsonSerializer.Serialize(new Tinyo.Api.ApplyRequest("uds.yml",
            "name: uds\ncontainer: \"alpine:latest\"\nreplicas: 2\nexpose: unix\n"), Tinyo.Api.ApiJson.Default.ApplyRequest);
        var (twoStatus, twoBody) = await admin.SendAsync("POST", "/v1/apps", Encoding.UTF8.GetBytes(two));
        Assert.Equal(422, twoStatus);
        Assert.Contains("expose: unix needs replicas: 1", Encoding.UTF8.GetString(twoBody));

        // Host paths: none for a non-admin until the admin allows some; then only within them.
        var (status, body) = await dep.SendAsync("POST", "/v1/apps", Encoding.UTF8.GetBytes(Apply("data", "/srv/tinyo-allowed/db")));
        Assert.Equal(403, status);
        Assert.Contains("/srv/tinyo-allowed/db", Encoding.UTF8.GetString(body));
        Assert.Equal(403, await Call(dep, "POST", "/v1/apps", Apply("root", "/")));
        await admin.BindsSetAsync(["/srv/tinyo-allowed/"]);
        Assert.Equal(["/srv/tinyo-allowed"], (await view.BindsAsync()).Paths);
        Assert.Equal(200, await Call(dep, "POST", "/v1/apps", Apply("data", "/srv/tinyo-allowed/db")));
        Assert.Equal(403, await Call(dep, "POST", "/v1/apps", Apply("data2", "/srv/tinyo-allowed-not/db")));
        Assert.Equal(403, await Call(dep, "POST", "/v1/apps", Apply("root", "/")));
        Assert.Equal(403, await Call(dep, "POST", "/v1/apps", Apply("etc", "/etc")));
        Assert.Equal(400, await Call(admin, "PUT", "/v1/binds", """{"paths":["relative/path"]}"""));
        Assert.Equal(400, await Call(admin, "PUT", "/v1/binds", """{"paths":["/srv/../etc"]}"""));
        Assert.Equal(200, await Call(admin, "POST", "/v1/apps", Apply("adm", "/etc/hostname"))); // an admin binds anything

        // Removal: the deployer removes its cluster's apps; the last admin cannot be removed, by anyone.
        foreach (var app in new[] { "web", "web2", "data", "adm" }) Assert.Equal(204, await Call(dep, "DELETE", "/v1/apps/" + app));
        Assert.Equal(409, await Call(admin, "DELETE", "/v1/users/admin"));
        await admin.UserAddAsync("admin2", "second-admin-1");
        Assert.Equal(204, await Call(admin, "DELETE", "/v1/users/admin2"));
        Assert.Equal(204, await Call(admin, "DELETE", "/v1/users/dep"));
        Assert.Equal(401, await Call(dep, "GET", "/v1/apps")); // its token died with it
    }
}
