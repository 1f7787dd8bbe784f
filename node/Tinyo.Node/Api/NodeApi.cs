using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Tinyo.Api;
using Tinyo.Api.Statefile;
using Tinyo.Kv;
using Tinyo.Node.Http;
using Tinyo.Node.Security;
using Tinyo.Node.Store;

namespace Tinyo.Node.Api;

/// <summary>
/// The node's HTTP API (JSON bodies, version prefix /v1). Every route but version, init and login needs
/// <c>Authorization: Bearer TOKEN</c>; init is accepted on the unix socket only, and only once.
/// <code>
/// GET    /v1/version              POST /v1/init            POST /v1/login        POST /v1/logout
/// GET    /v1/status
/// GET    /v1/nets                 POST /v1/nets            DELETE /v1/nets/NAME  PUT /v1/nets/NAME (egress)
/// GET    /v1/users                POST /v1/users           DELETE /v1/users/NAME
/// GET    /v1/secrets              PUT  /v1/secrets/NAME    DELETE /v1/secrets/NAME
/// GET    /v1/apps                 POST /v1/apps            DELETE /v1/apps/NAME
/// GET    /v1/apps/NAME/logs       POST /v1/apps/NAME/exec  (NodeApi.Containers.cs)
/// GET    /v1/nodes                POST /v1/cluster/challenge  POST /v1/cluster/join  (NodeApi.Cluster.cs; the two join routes need no token)
/// GET    /v1/binds                PUT  /v1/binds
/// POST   /v1/backup               (NodeApi.Backup.cs: admins; the encrypted backup file, streamed)
/// GET    /metrics                 GET  /v1/stats           GET|POST /v1/metrics/token  (NodeApi.Metrics.cs)
/// </code>
/// Roles (Security/Access): an admin may do everything; a deployer reads, and applies, removes, reads the logs of and
/// execs in the apps of its clusters, binding host paths only within the allow-list (<c>/v1/binds</c>); a viewer
/// reads (no logs, no exec). Users, nets, secrets and the allow-list are changed by admins only; a refusal is a 403.
/// </summary>
public sealed partial class NodeApi(NodeOptions options, StateStore store, SecretBox secrets)
{
    /// <summary>The node's port publisher: apply refuses host ports it says are taken (null: not checked).</summary>
    public Reconcile.IPortPublisher? Ports { get; init; }

    /// <summary>The pin of the TCP listener's TLS certificate (shown by GET /v1/status so tio can pin it), or null.</summary>
    public string? TlsPin { get; set; }

    /// <summary>The TCP port the API actually listens on (set once bound: --listen-tcp may ask for port 0).</summary>
    public int? ApiTcpPort { get; set; }

    /// <summary>The API version string.</summary>
    public const string ApiVersion = "v1";

    private static readonly ApiJson J = ApiJson.Default;
    private readonly LoginThrottle throttle = new();
    private readonly DateTimeOffset started = DateTimeOffset.UtcNow;
    private readonly SemaphoreSlim hashing = new(2, 2); // PBKDF2 is CPU-heavy: at most two at a time

    /// <summary>The product version.</summary>
    public static string Version => typeof(NodeApi).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>Answers one request.</summary>
    public async Task<HttpResponse> HandleAsync(HttpRequest req, CancellationToken ct)
    {
        try
        {
            if (req.Path == "/metrics") return await ScrapeAsync(req, ct); // Prometheus' path, outside /v1
            var parts = req.Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || parts[0] != ApiVersion || parts.Length > 4 || (parts.Length == 4 && parts[1] != "apps"))
                return Err(404, $"no such route: {req.Path}", "not_found");
            var resource = parts[1];
            var name = parts.Length == 3 ? parts[2] : null;
            switch (resource, req.Method, name)
            {
                case ("version", "GET", null):
                    return Ok(new VersionInfo(Version, ApiVersion), J.VersionInfo);
                case ("init", "POST", null):
                    return await InitAsync(req, ct);
                case ("login", "POST", null):
                    return await LoginAsync(req, ct);
                case ("cluster", "POST", "challenge" or "join"):
                    return await ClusterRouteAsync(req, name!, ct);
            }
            var caller = await AuthenticateAsync(req, ct);
            if (caller is null) return Err(401, "not logged in (or the token expired): run tio login", "unauthorized");
            var user = caller.Name;
            if (parts.Length == 4)
            {
                if (!caller.Deploys(await ClusterOfAppAsync(parts[2], ct)))
                    return Forbidden(caller, $"{parts[3]} in app {parts[2]}", "a deployer of its cluster");
                return await ContainerRouteAsync(req, parts[2], parts[3], user, ct);
            }
            if (req.Method != "GET" && (resource, req.Method) is not ("logout", "POST") && !caller.IsAdmin)
            {
                // Writes: apps are a deployer's within its clusters; everything else is an admin's.
                if (resource != "apps") return Forbidden(caller, $"{req.Method} /v1/{resource}", "an admin");
                // An apply is checked app by app in ApplyAsync (each names its own cluster); a removal by the stored app's.
                if (req.Method != "POST" && !caller.Deploys(await ClusterOfAppAsync(name ?? "", ct)))
                    return Forbidden(caller, $"{req.Method} /v1/apps/{name}", "a deployer of the app's cluster");
            }
            if (resource == "users" && !caller.IsAdmin) return Forbidden(caller, "/v1/users", "an admin");
            if (resource == "metrics" && !caller.IsAdmin) return Forbidden(caller, "/v1/metrics", "an admin");
            return (resource, req.Method, name) switch
            {
                ("logout", "POST", null) => await LogoutAsync(req, ct),
                ("status", "GET", null) => await StatusAsync(ct),
                ("nodes", "GET", null) => Ok(await Cluster.NodeRegistry.ListAsync(store, ct), Tinyo.Api.Cluster.ClusterJson.Default.ListNodeInfo),
                ("nodes", "POST", { } n) => await NodeDrainAsync(n, remove: false, ct),
                ("nodes", "DELETE", { } n) => await NodeDrainAsync(n, remove: true, ct),
                ("nets", "GET", null) => Ok((await store.ListAsync(Keys.Nets, J.NetInfo, ct)).Select(x => x.Value).ToList(), J.ListNetInfo),
                ("nets", "POST", null) => await NetCreateAsync(req, ct),
                ("nets", "DELETE", { } n) => await NetDeleteAsync(n, ct),
                ("nets", "PUT", { } n) => await NetUpdateAsync(n, req, ct),
                ("users", "GET", null) => Ok((await store.ListAsync(Keys.Users, StoreJson.Default.StoredUser, ct)).Select(x => Info(x.Value)).ToList(), J.ListUserInfo),
                ("users", "POST", null) => await UserAddAsync(req, ct),
                ("users", "DELETE", { } n) => await UserRemoveAsync(n, user, ct),
                ("secrets", "GET", null) => Ok((await store.ListAsync(Keys.Secrets, StoreJson.Default.StoredSecret, ct)).Select(x => new SecretInfo(x.Name, x.Value.Created)).ToList(), J.ListSecretInfo),
                ("secrets", "PUT", { } n) => await SecretPutAsync(req, n, user, ct),
                ("secrets", "DELETE", { } n) => await DeleteAsync(Keys.Secrets, n, "secret", ct),
                ("apps", "GET", null) => Ok(await AppsAsync(ct), J.ListAppInfo),
                ("apps", "POST", null) => await ApplyAsync(req, caller, ct),
                ("binds", "GET", null) => Ok(new BindPolicy(await new BindPolicyStore(store).GetAsync(ct)), J.BindPolicy),
                ("binds", "PUT", null) => await BindsPutAsync(req, user, ct),
                ("backup", "POST", null) => await BackupAsync(req, user, ct),
                ("apps", "DELETE", { } n) => await DeleteAsync(Keys.Apps, n, "app", ct, user),
                ("stats", "GET", null) => await StatsAsync(req, ct),
                ("metrics", "GET" or "POST", "token") => await MetricsTokenAsync(req.Method == "POST", user, ct),
                _ => Err(404, $"no such route: {req.Method} {req.Path}", "not_found"),
            };
        }
        catch (ApiRequestException e)
        {
            return Err(e.Status, e.Message, e.Code);
        }
        catch (StatefileException e)
        {
            return new HttpResponse(422, JsonSerializer.SerializeToUtf8Bytes(
                new ErrorBody(e.Message, "invalid_statefile", e.File, e.Line, e.Column, e.Field), J.ErrorBody));
        }
        catch (KvException e)
        {
            options.Log($"kv: {e.Message}");
            return Err(503, $"cluster state unavailable: {e.Message}{KvTlsHint(e)}", "kv_unavailable");
        }
    }

    /// <summary>
    /// A refused handshake or client certificate is a setting on this node, not an outage: say which flags (the KV's
    /// own message names the certificate problem, not where the node got its certificates from).
    /// </summary>
    private string KvTlsHint(KvException e)
    {
        if (e is Kv.Client.KvTlsException || e.Message.Contains("certificate", StringComparison.Ordinal))
            return options.KvTls is null
                ? " (the node speaks plain TCP to the KV: pass --kv-cacert, --kv-cert and --kv-key for TLS)"
                : " (check the node's KV TLS files: --kv-cacert, --kv-cert, --kv-key)";
        if (e.Message.Contains("TLS connections only", StringComparison.Ordinal))
            return " (the node speaks plain TCP to the KV: pass --kv-cacert, --kv-cert and --kv-key for TLS)";
        return "";
    }

    private sealed class BadRequest(int status, string message, string code = "bad_request") : ApiRequestException(status, message, code);

    // Parsing and validation live in ApiRequests (pure, fuzzed); these keep the handlers short.
    private static T Body<T>(HttpRequest req, JsonTypeInfo<T> info) => ApiRequests.Body(req.Body, info);

    private static string ValidName(string? name, string what) => ApiRequests.ValidName(name, what);

    private static HttpResponse Ok<T>(T value, JsonTypeInfo<T> info, int status = 200) => new(status, JsonSerializer.SerializeToUtf8Bytes(value, info));

    private static HttpResponse Err(int status, string message, string code) => HttpServer.Error(status, message, code);

    private static HttpResponse NoContent() => new(204, []);

    private async Task<Caller?> AuthenticateAsync(HttpRequest req, CancellationToken ct)
    {
        if (!req.Headers.TryGetValue("authorization", out var auth) || !auth.StartsWith("Bearer ", StringComparison.Ordinal)) return null;
        var token = auth["Bearer ".Length..].Trim();
        if (!token.StartsWith(Tokens.Prefix, StringComparison.Ordinal) || token.Length > 100) return null;
        var t = await store.GetAsync(Keys.Tokens + Tokens.Id(token), StoreJson.Default.StoredToken, ct);
        if (t is null || t.Expires <= DateTimeOffset.UtcNow) return null;
        // A removed user's tokens stop working at once, and stay dead when a user of the same name is created again:
        // the token names the user's id, which a new user never shares.
        var u = await store.GetAsync(Keys.Users + t.User, StoreJson.Default.StoredUser, ct);
        if (u is null || u.Id != t.UserId) return null;
        // An unknown role (a newer node wrote it) grants nothing beyond reading.
        return new Caller(t.User, Access.ParseRole(u.Role) ?? Role.Viewer, u.Clusters ?? []);
    }

    private static UserInfo Info(StoredUser u)
        => new(u.Name, u.Created, u.Role ?? "admin", u.Clusters is { Count: > 0 } c ? c : null);

    private HttpResponse Forbidden(Caller caller, string what, string who)
    {
        options.Log($"refused {what} to {caller.Name} ({Access.Name(caller.Role)})");
        return Err(403, $"{what}: not allowed for user {caller.Name} ({Access.Name(caller.Role)}); it needs {who}", "forbidden");
    }

    /// <summary>
    /// The cluster this node's apps belong to: its net (<c>tio ++ -net NAME</c>, the first one made). When apps name
    /// their cluster network, this becomes the app's own.
    /// </summary>
    private async Task<string?> ClusterOfAsync(CancellationToken ct)
        => await new ClusterInit(store).NetAsync(ct);

    /// <summary>The cluster an app belongs to: its stored <c>net:</c>, else the node's first net (also for an app that
    /// does not exist, which the route then answers with 404).</summary>
    private async Task<string?> ClusterOfAppAsync(string app, CancellationToken ct)
        => (app.Length > 0 && Statefile.IsValidName(app) ? (await store.GetAsync(Keys.Apps + app, J.AppRecord, ct))?.Spec.Net : null)
           ?? await ClusterOfAsync(ct);

    private async Task<HttpResponse> BindsPutAsync(HttpRequest req, string by, CancellationToken ct)
    {
        var r = Body(req, J.BindPolicy);
        if (r.Paths is null || r.Paths.Count > 256) throw new BadRequest(400, "paths: expected a list of at most 256 absolute paths");
        var list = new List<string>();
        foreach (var p in r.Paths)
        {
            if (p is null) throw new BadRequest(400, "paths: a null entry");
            if (Access.PathProblem(p) is { } problem) throw new BadRequest(400, "paths: " + problem);
            list.Add("/" + string.Join('/', p.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(x => x != ".")));
        }
        var policy = new BindPolicy(list);
        await new BindPolicyStore(store).SetAsync(policy, ct);
        options.Log($"bind allow-list set by {by}: {string.Join(", ", list.Select(Printable.Escape))}");
        return Ok(policy, J.BindPolicy);
    }

    private async Task<HttpResponse> InitAsync(HttpRequest req, CancellationToken ct)
    {
        if (!req.Local) return Err(403, "init is only accepted on the node's unix socket", "forbidden");
        var r = ApiRequests.Init(req.Body);
        var cluster = new ClusterInit(store);
        if (await cluster.NetAsync(ct) is { } existing)
            return Err(409, $"already initialised: net {existing}", "exists");
        var user = await HashAsync(r.User, r.Password, ct);
        var now = DateTimeOffset.UtcNow;
        if (!await cluster.InitializeAsync(new NetInfo(r.Net, now), user, ct)) return Err(409, "already initialised", "exists");
        options.Log($"initialised net {r.Net} with user {r.User}");
        return Ok(new NetInfo(r.Net, now), J.NetInfo, 201);
    }

    private async Task<StoredUser> HashAsync(string user, string password, CancellationToken ct)
    {
        await hashing.WaitAsync(ct);
        try
        {
            return await Task.Run(() => Passwords.Hash(user, password, options.Pbkdf2Iterations), ct);
        }
        finally
        {
            hashing.Release();
        }
    }

    private async Task<HttpResponse> LoginAsync(HttpRequest req, CancellationToken ct)
    {
        var r = ApiRequests.Login(req.Body);
        var name = r.User ?? "";
        // Root on the unix socket (by the kernel's peer credentials) is never throttled: it owns the node's files and
        // KV anyway, and nobody reaching the TCP port can then lock the local administrator out.
        var rootLocal = req.Local && req.PeerUid == 0;
        if (!rootLocal && throttle.RetryAfter(name, req.Peer) is { } wait)
            return Err(429, $"too many failed logins: try again in {Math.Ceiling(wait.TotalSeconds)}s", "throttled");
        var u = Statefile.IsValidName(name) ? await store.GetAsync(Keys.Users + name, StoreJson.Default.StoredUser, ct) : null;
        bool ok;
        await hashing.WaitAsync(ct);
        try
        {
            ok = await Task.Run(() => Passwords.Verify(u ?? Passwords.Decoy.Value, r.Password ?? "") && u is not null, ct);
        }
        finally
        {
            hashing.Release();
        }
        if (!ok)
        {
            if (!rootLocal) throttle.Failed(name, req.Peer);
            options.Log($"failed login for '{Printable.Escape(name.Length > 64 ? name[..64] : name)}' from {req.Peer}");
            return Err(401, "wrong user or password", "unauthorized");
        }
        throttle.Succeeded(name, req.Peer);
        var token = Tokens.New();
        var expires = DateTimeOffset.UtcNow + options.TokenTtl;
        // The lease deletes the token's record when it expires (plus a margin: the expiry check is authoritative).
        await store.PutExpiringAsync(Keys.Tokens + Tokens.Id(token), new StoredToken(name, expires, u!.Id), StoreJson.Default.StoredToken,
            options.TokenTtl + TimeSpan.FromSeconds(60), ct);
        options.Log($"user {name} logged in from {req.Peer}");
        return Ok(new LoginResponse(token, name, expires), J.LoginResponse);
    }

    private async Task<HttpResponse> LogoutAsync(HttpRequest req, CancellationToken ct)
    {
        var token = req.Headers["authorization"]["Bearer ".Length..].Trim();
        await store.DeleteAsync(Keys.Tokens + Tokens.Id(token), ct);
        return NoContent();
    }

    private async Task<HttpResponse> StatusAsync(CancellationToken ct)
    {
        var nets = await store.ListAsync(Keys.Nets, J.NetInfo, ct);
        return Ok(new NodeStatus(options.Name, nets.Count > 0 ? nets[0].Name : null, Version,
            (long)(DateTimeOffset.UtcNow - started).TotalSeconds, string.Join(',', options.KvEndpoints),
            await store.RevisionAsync(ct), (int)await store.CountAsync(Keys.Apps, ct), (int)await store.CountAsync(Keys.Users, ct),
            (int)await store.CountAsync(Keys.Secrets, ct), TlsPin), J.NodeStatus);
    }

    private async Task<HttpResponse> NetCreateAsync(HttpRequest req, CancellationToken ct)
    {
        var r = ApiRequests.Net(req.Body);
        var net = new NetInfo(r.Name, DateTimeOffset.UtcNow, r.Egress == false ? false : null);
        if (!await store.CreateAsync(Keys.Nets + r.Name, net, J.NetInfo, ct)) return Err(409, $"net {r.Name} already exists", "exists");
        options.Log($"net {r.Name} created");
        return Ok(net, J.NetInfo, 201);
    }

    /// <summary>PUT /v1/nets/NAME: switches egress of an existing net; every node that has the cluster applies it
    /// (Network/NetSettingsFeed). Only <c>egress</c> may change.</summary>
    private async Task<HttpResponse> NetUpdateAsync(string name, HttpRequest req, CancellationToken ct)
    {
        ValidName(name, "net");
        var r = ApiRequests.Net(req.Body);
        if (r.Name != name) return Err(422, $"net {name}: the body names net {r.Name}", "invalid");
        if (r.Egress is not { } egress) return Err(422, $"net {name}: nothing to change (egress: true or false)", "invalid");
        var net = await store.GetAsync(Keys.Nets + name, J.NetInfo, ct);
        if (net is null) return Err(404, $"net {name} does not exist", "not_found");
        var updated = net with { Egress = egress ? null : false };
        await store.PutAsync(Keys.Nets + name, updated, J.NetInfo, ct);
        options.Log($"net {name}: egress {(egress ? "on" : "off")}");
        return Ok(updated, J.NetInfo);
    }

    /// <summary>A net is refused removal while an app is on it (by <c>net:</c>, or by default for the first net).</summary>
    private async Task<HttpResponse> NetDeleteAsync(string name, CancellationToken ct)
    {
        ValidName(name, "net");
        var first = await new ClusterInit(store).NetAsync(ct);
        var users = (await store.ListAsync(Keys.Apps, J.AppRecord, ct))
            .Where(a => a.Value.Spec.Network is null && (a.Value.Spec.Net ?? first) == name).Select(a => a.Name).ToList();
        if (users.Count > 0)
            return Err(409, $"net {name} is used by {users.Count} app(s): {string.Join(", ", users.Take(5))}{(users.Count > 5 ? ", ..." : "")}; remove them or move them to another net (net: in their statefiles) first", "in_use");
        return await DeleteAsync(Keys.Nets, name, "net", ct);
    }

    private async Task<HttpResponse> DeleteAsync(string prefix, string name, string what, CancellationToken ct, string? by = null)
    {
        ValidName(name, what);
        if (!await store.DeleteAsync(prefix + name, ct)) return Err(404, $"no such {what}: {name}", "not_found");
        options.Log($"{what} {name} removed{(by is null ? "" : " by " + by)}");
        return NoContent();
    }

    private async Task<HttpResponse> UserAddAsync(HttpRequest req, CancellationToken ct)
    {
        var r = ApiRequests.User(req.Body);
        if (await store.GetAsync(Keys.Users + r.Name, StoreJson.Default.StoredUser, ct) is not null)
            return Err(409, $"user {r.Name} already exists", "exists");
        var role = Access.ParseRole(r.Role) ?? throw new BadRequest(400, $"role: '{Printable.Escape(r.Role ?? "")}' is not one of {string.Join(", ", Access.RoleNames)}");
        var clusters = new List<string>();
        foreach (var c in r.Clusters ?? [])
        {
            ValidName(c, "cluster");
            if (!clusters.Contains(c)) clusters.Add(c);
        }
        if (role == Role.Deployer && clusters.Count == 0) throw new BadRequest(400, "clusters: a deployer needs at least one cluster to deploy to");
        if (role != Role.Deployer && clusters.Count > 0) throw new BadRequest(400, "clusters: only a deployer has clusters");
        var u = await HashAsync(r.Name, r.Password, ct) with { Role = Access.Name(role), Clusters = clusters.Count > 0 ? clusters : null };
        if (!await store.CreateAsync(Keys.Users + r.Name, u, StoreJson.Default.StoredUser, ct))
            return Err(409, $"user {r.Name} already exists", "exists");
        options.Log($"user {r.Name} added ({Access.Name(role)}{(clusters.Count > 0 ? " of " + string.Join(',', clusters) : "")})");
        return Ok(new List<UserInfo> { Info(u) }, J.ListUserInfo, 201);
    }

    private async Task<HttpResponse> UserRemoveAsync(string name, string by, CancellationToken ct)
    {
        ValidName(name, "user");
        if (await store.CountAsync(Keys.Users, ct) <= 1 && await store.GetAsync(Keys.Users + name, StoreJson.Default.StoredUser, ct) is not null)
            return Err(409, $"user {name} is the last user: add another one first", "last_user");
        var users = await store.ListAsync(Keys.Users, StoreJson.Default.StoredUser, ct);
        if (users.Any(x => x.Name == name && (x.Value.Role ?? "admin") == "admin") && users.Count(x => (x.Value.Role ?? "admin") == "admin") <= 1)
            return Err(409, $"user {name} is the last admin: make another admin first", "last_admin");
        var removed = await DeleteAsync(Keys.Users, name, "user", ct, by);
        if (removed.Status == 204)
        {
            // The id check already refuses them; deleting them too leaves no live record of a removed user's sessions.
            foreach (var (id, t) in await store.ListAsync(Keys.Tokens, StoreJson.Default.StoredToken, ct))
                if (t.User == name) await store.DeleteAsync(Keys.Tokens + id, ct);
        }
        return removed;
    }

    private async Task<HttpResponse> SecretPutAsync(HttpRequest req, string name, string by, CancellationToken ct)
    {
        var value = ApiRequests.Secret(name, req.Body);
        var sealedSecret = secrets.Seal(name, value);
        CryptographicZero(value);
        if (!await store.CreateAsync(Keys.Secrets + name, sealedSecret, StoreJson.Default.StoredSecret, ct))
            return Err(409, $"secret {name} already exists: remove it first", "exists");
        options.Log($"secret {name} added by {by}"); // the name only, never the value
        return Ok(new List<SecretInfo> { new(name, sealedSecret.Created) }, J.ListSecretInfo, 201);
    }

    private static void CryptographicZero(byte[] b) => System.Security.Cryptography.CryptographicOperations.ZeroMemory(b);

    private async Task<List<AppInfo>> AppsAsync(CancellationToken ct)
    {
        var apps = await store.ListAsync(Keys.Apps, J.AppRecord, ct);
        var status = await store.ListAsync(Keys.Status, J.AppStatus, ct); // NODE/APP → observed state
        // In a mesh, a lost node's last status is not what runs: its replicas have been placed elsewhere, and shown
        // twice they would look like duplicates. A node without liveness keys (one not set up for a cluster) has none
        // to compare with, and shows everything.
        var alive = await new NodeRegistryStore(store).AliveAsync(ct);
        if (alive.Count > 0)
            status = [.. status.Where(s => s.Name.IndexOf('/') is var slash and > 0 && alive.Contains(s.Name[..slash]))];
        var pending = await new PlacementStore(store).PendingAsync(ct);
        return apps.Select(a => Reconcile.AppView.Merge(a.Name, a.Value, status, pending.GetValueOrDefault(a.Name))).ToList();
    }

    /// <summary>Largest desired state stored for one app (the statefile's limit, with room for JSON's quoting).</summary>
    private const int MaxRecordBytes = 2 * Statefile.MaxBytes;

    /// <summary>The host ports this node serves on: the API's TCP port and, when the KV runs here, its client ports.</summary>
    private List<(int Port, string What)> ReservedPorts()
    {
        var list = new List<(int, string)>();
        if ((ApiTcpPort ?? options.Tcp?.Port) is { } api and > 0) list.Add((api, "the node's API port (--listen-tcp)"));
        foreach (var kv in options.KvEndpoints)
            if (System.Net.IPAddress.IsLoopback(kv.Address) || kv.Address.Equals(System.Net.IPAddress.Any) || kv.Address.Equals(System.Net.IPAddress.IPv6Any))
                list.Add((kv.Port, "the KV's client port (--kv-endpoints)"));
        return list;
    }

    private async Task<HttpResponse> ApplyAsync(HttpRequest req, Caller caller, CancellationToken ct)
    {
        var by = caller.Name;
        var (file, specs) = ApiRequests.Apply(req.Body); // StatefileException → 422 with the position
        // A non-admin binds host paths only within the admin's allow-list: a bind is a way out of the container.
        if (!caller.IsAdmin && Access.ForbiddenBind(caller, specs, await new BindPolicyStore(store).GetAsync(ct)) is var (app, source))
            return Forbidden(caller, $"{file}: app {app}: binding host path {Printable.Escape(source)}", "an admin, or the path in the bind allow-list (/v1/binds)");
        // A deployer applies only into its clusters: each app's own (`net:`, else the node's first), and never over an
        // app of the same name that lives in another cluster.
        if (!caller.IsAdmin)
            foreach (var s in specs)
            {
                var net = s.Net ?? await ClusterOfAsync(ct);
                if (!caller.Deploys(net))
                    return Forbidden(caller, $"{file}: app {s.Name} on cluster {net}", "a deployer of that cluster");
                if (await store.GetAsync(Keys.Apps + s.Name, J.AppRecord, ct) is { } existing
                    && (existing.Spec.Net ?? await ClusterOfAsync(ct)) is var was && was != net && !caller.Deploys(was))
                    return Forbidden(caller, $"{file}: app {s.Name}, which is on cluster {was}", "a deployer of that cluster");
            }
        // The direct network: expose:, shm: and stdin: are carried out by the reconciler (Direct/DirectPaths,
        // Direct/ContainerPipes). A socket is one process's.
        foreach (var s in specs)
        {
            if (s.UnixSocket is not null && s.Replicas != 1)
                throw new BadRequest(422, $"{file}: app {s.Name}: expose: unix needs replicas: 1 (one socket file, one listener)", "invalid");
        }
        // Referenced secrets must exist: an app that can never start is refused now, not discovered later.
        foreach (var s in specs)
            foreach (var sec in s.Secrets)
                if (!await store.ExistsAsync(Keys.Secrets + sec.Name, ct))
                    throw new BadRequest(422, $"{file}: app {s.Name}: secret '{sec.Name}' does not exist (tio secret + {sec.Name})", "missing_secret");
        // An app's cluster must exist: named at its `net:` (the node's first net is the default, made by init).
        foreach (var s in specs)
            if (s.Net is { } net && !await store.ExistsAsync(Keys.Nets + net, ct))
                throw new StatefileException(file, s.NetAt.Line, s.NetAt.Column, "net", $"no net '{net}' (create it with tio net + {net}; tio net ls lists them)");
        // Placement constraints must name something that exists: `node:` a registered node, `nodes:` labels some node has.
        if (specs.Any(s => s.Node is not null || s.NodeLabels is not null))
        {
            var nodes = await Cluster.NodeRegistry.ListAsync(store, ct);
            foreach (var s in specs)
            {
                if (s.Node is { } only && !nodes.Exists(n => n.Name == only))
                    throw new StatefileException(file, s.PlacementAt.Line, s.PlacementAt.Column, "node",
                        $"no node '{Printable.Escape(only)}' in the cluster (tio node ls: {string.Join(", ", nodes.Select(n => n.Name))})");
                if (s.NodeLabels is { } want && !nodes.Exists(n => want.All(w => n.Labels is { } l && l.TryGetValue(w.Key, out var v) && v == w.Value)))
                    throw new StatefileException(file, s.PlacementAt.Line, s.PlacementAt.Column, "nodes",
                        $"no node has the labels {string.Join(',', want.Select(w => w.Key + "=" + w.Value))} (tio node ls shows each node's labels; tio ++ --label sets them)");
            }
        }
        // The node's own ports are never an app's, even when the publisher could bind them (another address, SO_REUSEADDR).
        ApiRequests.CheckReservedPorts(file, specs, ReservedPorts());
        // Published host ports must be free (or this same app's): a taken port is refused now, not discovered later.
        var taken = new Dictionary<string, string>();
        foreach (var s in specs)
        {
            foreach (var p in s.Ports)
                if (!taken.TryAdd(p.Host + "/" + p.Protocol, s.Name) && taken[p.Host + "/" + p.Protocol] != s.Name)
                    throw new BadRequest(409, $"{file}: apps {taken[p.Host + "/" + p.Protocol]} and {s.Name} both publish port {p.Host}", "port_in_use");
            try
            {
                Ports?.Check(s.Name, s.Ports);
            }
            catch (NodeException e)
            {
                throw new BadRequest(e is Ports.PortInUseException ? 409 : 422, $"{file}: app {s.Name}: {e.Message}", "port_in_use");
            }
        }
        var results = new List<ApplyResult>();
        var now = DateTimeOffset.UtcNow;
        var changed = new List<AppRecord>();
        foreach (var s in specs)
        {
            var old = await store.GetAsync(Keys.Apps + s.Name, J.AppRecord, ct);
            var rec = new AppRecord(s, file, old?.Created ?? now, now);
            // The parser bounds the expanded text; this bounds what is stored, whatever a future field adds.
            if (JsonSerializer.SerializeToUtf8Bytes(rec, J.AppRecord).Length > MaxRecordBytes)
                throw new BadRequest(413, $"{file}: app {s.Name}: its desired state is larger than {MaxRecordBytes >> 20} MiB", "too_large");
            var same = old is not null && JsonSerializer.Serialize(old.Spec, J.AppSpec) == JsonSerializer.Serialize(s, J.AppSpec);
            results.Add(new ApplyResult(s.Name, old is null ? "created" : same ? "unchanged" : "updated"));
            if (!same) changed.Add(rec);
        }
        // All documents of a file are stored in one transaction: all or nothing.
        await new DesiredApps(store, options.Log).PutAsync(changed, ct);
        foreach (var x in results) options.Log($"app {x.Name} {x.Action} by {by}");
        return Ok(results, J.ListApplyResult);
    }
}
