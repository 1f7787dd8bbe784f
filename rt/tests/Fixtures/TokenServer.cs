using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;

namespace Tinyo.Rt.Tests.Fixtures;

/// <summary>
/// A token endpoint for docker-registry's <c>auth.token</c> mode (the flow Docker Hub uses): it answers
/// <c>GET /token?service=…&amp;scope=repository:NAME:ACTIONS</c> with an ES256 JWT signed by a self-signed cert whose
/// PEM is the registry's rootcertbundle and which rides in the JWT header's x5c. With <see cref="RequiredUser"/> set
/// it demands Basic credentials, like a private Docker Hub repository.
/// </summary>
public sealed class TokenServer : IDisposable
{
    public const string Service = "tinyo-test-registry";
    public const string Issuer = "tinyo-test-issuer";

    private readonly HttpListener _listener = new();
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _cert;
    private readonly Task _loop;

    public TokenServer(string dir)
    {
        var req = new CertificateRequest("CN=tinyo test token issuer", _key, HashAlgorithmName.SHA256);
        _cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        CertPath = Path.Combine(dir, "token-root.pem");
        File.WriteAllText(CertPath, _cert.ExportCertificatePem());
        Port = LoopbackListener.Start(_listener);
        _loop = Task.Run(Loop);
    }

    public int Port { get; }
    public string CertPath { get; }
    public string Realm => $"http://127.0.0.1:{Port}/token";

    /// <summary>user:password the endpoint requires (Basic), or null for anonymous tokens.</summary>
    public string? RequiredUser { get; set; }

    /// <summary>Every request's query string and whether it carried valid credentials.</summary>
    public ConcurrentQueue<(string Query, bool Authenticated)> Requests { get; } = new();

    /// <summary>The registry config's auth section for this endpoint.</summary>
    public string AuthYaml => $"""
        auth:
          token:
            realm: {Realm}
            service: {Service}
            issuer: {Issuer}
            rootcertbundle: {CertPath}
        """;

    private async Task Loop()
    {
        while (true)
        {
            HttpListenerContext ctx;
            try
            {
                ctx = await _listener.GetContextAsync();
            }
            catch (Exception)
            {
                return;
            }
            try
            {
                Handle(ctx);
            }
            catch (Exception)
            {
                ctx.Response.Abort();
            }
        }
    }

    private void Handle(HttpListenerContext ctx)
    {
        var q = ctx.Request.QueryString;
        var auth = ctx.Request.Headers["Authorization"];
        var ok = RequiredUser is null
            || auth == "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(RequiredUser));
        Requests.Enqueue((ctx.Request.Url!.Query, auth is not null && ok));
        if (!ok)
        {
            ctx.Response.StatusCode = 401;
            ctx.Response.Close();
            return;
        }
        var access = new JsonArray();
        foreach (var scope in q.GetValues("scope") ?? [])
        {
            var parts = scope.Split(':');
            if (parts.Length != 3) continue;
            var actions = new JsonArray();
            foreach (var a in parts[2].Split(',')) actions.Add((JsonNode)JsonValue.Create(a));
            access.Add((JsonNode)new JsonObject { ["type"] = parts[0], ["name"] = parts[1], ["actions"] = actions });
        }
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = new JsonObject
        {
            ["typ"] = "JWT", ["alg"] = "ES256", ["x5c"] = new JsonArray(Convert.ToBase64String(_cert.RawData)),
        };
        var claims = new JsonObject
        {
            ["iss"] = Issuer, ["sub"] = RequiredUser?.Split(':')[0] ?? "", ["aud"] = q["service"] ?? "",
            ["exp"] = now + 300, ["nbf"] = now - 10, ["iat"] = now, ["jti"] = Guid.NewGuid().ToString("N"),
            ["access"] = access,
        };
        var signingInput = B64(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + B64(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        var sig = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        var token = signingInput + "." + B64(sig);
        var body = Encoding.UTF8.GetBytes(new JsonObject { ["token"] = token, ["expires_in"] = 300 }.ToJsonString());
        ctx.Response.ContentType = "application/json";
        ctx.Response.ContentLength64 = body.Length;
        ctx.Response.OutputStream.Write(body);
        ctx.Response.Close();
    }

    private static string B64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose()
    {
        LoopbackListener.Close(_listener);
        try
        {
            _loop.Wait(2000);
        }
        catch (AggregateException)
        {
        }
        _cert.Dispose();
        _key.Dispose();
    }
}
