using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tinyo.Rt.Images;

/// <summary>
/// A client of one registry speaking the OCI distribution API (<c>/v2/</c>). It answers authentication challenges
/// itself: Bearer tokens from the realm the registry names (Docker Hub's flow) and Basic, with credentials from
/// <see cref="DockerConfig"/>. HTTPS unless the registry is on loopback or <c>insecure</c> is set.
/// Everything a registry sends is untrusted: sizes are bounded and messages truncated.
/// </summary>
public sealed class RegistryClient : IDisposable
{
    private const int MaxTokenResponse = 1 << 20;
    private const int MaxErrorBody = 16 << 10;

    private readonly HttpClient _http;
    private readonly string _domain;
    private readonly bool _insecure;
    private readonly SemaphoreSlim _authGate = new(1, 1);
    private (string User, string Password)? _credentials;
    private bool _credentialsLoaded;
    private volatile AuthenticationHeaderValue? _auth;
    private readonly bool _mayUsePlainHttp;
    private volatile bool _schemeSettled;

    /// <summary>Creates a client for the registry of <paramref name="reference"/>.</summary>
    /// <param name="reference">The image; its domain picks the registry.</param>
    /// <param name="insecure">Allow plain HTTP and unchecked certificates (always allowed on loopback).</param>
    /// <param name="stallTimeout">How long a request may wait for headers, or a body for its next bytes (default 60 s).</param>
    public RegistryClient(ImageReference reference, bool insecure = false, TimeSpan? stallTimeout = null)
    {
        StallTimeout = stallTimeout ?? TimeSpan.FromSeconds(60);
        _domain = reference.Domain;
        _insecure = insecure;
        // Like Docker's insecure registries (and loopback ones): HTTPS first, without certificate checks, then plain
        // HTTP if the server does not speak TLS.
        _mayUsePlainHttp = insecure || reference.IsLoopback;
        _schemeSettled = !_mayUsePlainHttp;
        BaseUri = new Uri($"https://{reference.RegistryHost}/v2/");
        var handler = new SocketsHttpHandler
        {
            AutomaticDecompression = DecompressionMethods.None, // blob bytes are hashed as served
            AllowAutoRedirect = true, // blob GETs redirect to storage; .NET drops Authorization on redirect
            MaxAutomaticRedirections = 8,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            UseCookies = false,
        };
        if (_mayUsePlainHttp) handler.SslOptions.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("tinyort", "0.1"));
    }

    /// <summary>How long a request may wait for headers, or a body for its next bytes, before the pull fails.</summary>
    public TimeSpan StallTimeout { get; }

    /// <summary>The API base, <c>https://HOST/v2/</c> (or <c>http://</c> once an insecure registry turned out to be plain).</summary>
    public Uri BaseUri { get; private set; }

    /// <summary>Fetches a manifest or index by tag or digest: body (≤ <see cref="Manifest.MaxSize"/>) and Content-Type.</summary>
    public async Task<(byte[] Body, string? ContentType, string? DockerContentDigest)> GetManifestAsync(
        string repository, string reference, CancellationToken ct)
    {
        var path = $"{repository}/manifests/{reference}";
        using var resp = await SendAsync(() =>
        {
            var r = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUri, path));
            r.Headers.TryAddWithoutValidation("Accept", MediaTypes.ManifestAccept);
            return r;
        }, repository, ct).ConfigureAwait(false);
        if (resp.StatusCode == HttpStatusCode.NotFound)
            throw new RtException($"{_domain}/{repository}:{reference}: not found in the registry{await ErrorDetail(resp, ct).ConfigureAwait(false)}");
        await EnsureOk(resp, $"fetching manifest {_domain}/{repository}:{reference}", ct).ConfigureAwait(false);
        var body = await ReadBoundedAsync(resp, Manifest.MaxSize, $"manifest {_domain}/{repository}:{reference}", ct).ConfigureAwait(false);
        var contentType = resp.Content.Headers.ContentType?.MediaType;
        resp.Headers.TryGetValues("Docker-Content-Digest", out var dcd);
        return (body, contentType, dcd?.FirstOrDefault());
    }

    /// <summary>Fetches a small blob (config) entirely, bounded by <paramref name="maxSize"/>.</summary>
    public async Task<byte[]> GetSmallBlobAsync(string repository, Digest digest, int maxSize, CancellationToken ct)
    {
        using var resp = await GetBlobAsync(repository, digest, 0, ct).ConfigureAwait(false);
        return await ReadBoundedAsync(resp, maxSize, $"blob {digest}", ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a blob download, from byte <paramref name="offset"/> when non-zero (a Range request; the caller checks
    /// for 206 and falls back to a full download on 200). Non-success statuses are turned into errors.
    /// </summary>
    public async Task<HttpResponseMessage> GetBlobAsync(string repository, Digest digest, long offset, CancellationToken ct)
    {
        var path = $"{repository}/blobs/{digest}";
        var resp = await SendAsync(() =>
        {
            var r = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUri, path));
            if (offset > 0) r.Headers.Range = new RangeHeaderValue(offset, null);
            return r;
        }, repository, ct).ConfigureAwait(false);
        try
        {
            if (resp.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && offset > 0)
            {
                resp.Dispose();
                return await GetBlobAsync(repository, digest, 0, ct).ConfigureAwait(false);
            }
            if (resp.StatusCode == HttpStatusCode.NotFound)
                throw new RtException($"blob {digest} not found in {_domain}/{repository}{await ErrorDetail(resp, ct).ConfigureAwait(false)}");
            await EnsureOk(resp, $"fetching blob {digest}", ct).ConfigureAwait(false);
            return resp;
        }
        catch
        {
            resp.Dispose();
            throw;
        }
    }

    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> make, string repository, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var sentWith = _auth;
            using var req = make();
            if (sentWith is not null) req.Headers.Authorization = sentWith;
            HttpResponseMessage resp;
            var probing = !_schemeSettled && BaseUri.Scheme == "https";
            try
            {
                // A plain-HTTP server may never answer a TLS hello: probe with a short timeout.
                resp = await SendWithStallAsync(req, probing ? TimeSpan.FromSeconds(Math.Min(3, StallTimeout.TotalSeconds)) : StallTimeout, !probing, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (probing && (e is OperationCanceledException && !ct.IsCancellationRequested
                || e is HttpRequestException { HttpRequestError: not HttpRequestError.ConnectionError }))
            {
                // Connected, but no TLS there: an insecure or loopback registry speaking plain HTTP.
                BaseUri = new Uri("http://" + BaseUri.Authority + "/v2/");
                _schemeSettled = true;
                attempt--;
                continue;
            }
            catch (HttpRequestException e)
            {
                throw new RtException($"cannot reach registry {_domain} ({BaseUri.Scheme}): {e.Message}", e);
            }
            _schemeSettled = true;
            if (resp.StatusCode != HttpStatusCode.Unauthorized) return resp;
            var challenges = AuthChallenge.Parse(resp.Headers.WwwAuthenticate.ToString());
            var detail = await ErrorDetail(resp, ct).ConfigureAwait(false);
            resp.Dispose();
            if (attempt >= 2)
                throw new RtException($"registry {_domain} refused the credentials for {repository}{detail}");
            await AuthenticateAsync(challenges, repository, sentWith, detail, ct).ConfigureAwait(false);
        }
    }

    private async Task AuthenticateAsync(List<AuthChallenge> challenges, string repository,
        AuthenticationHeaderValue? failed, string detail, CancellationToken ct)
    {
        await _authGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // Another request may have authenticated while this one waited.
            if (_auth is not null && !ReferenceEquals(_auth, failed)) return;
            var bearer = challenges.Find(c => c.IsBearer);
            var basic = challenges.Find(c => c.IsBasic);
            var creds = Credentials();
            if (bearer is not null)
            {
                _auth = new AuthenticationHeaderValue("Bearer", await FetchTokenAsync(bearer, repository, creds, ct).ConfigureAwait(false));
                return;
            }
            if (basic is not null)
            {
                if (creds is null)
                    throw new RtException($"registry {_domain} requires a login: no credentials for it in {DockerConfig.ConfigPath ?? "~/.docker/config.json"}{detail}");
                if (failed?.Scheme == "Basic")
                    throw new RtException($"registry {_domain} refused the credentials of {creds.Value.User}{detail}");
                RequireSafeTransport(BaseUri, "send a password to registry");
                _auth = BasicHeader(creds.Value);
                return;
            }
            throw new RtException($"registry {_domain} requires authentication with an unsupported scheme{detail}");
        }
        finally
        {
            _authGate.Release();
        }
    }

    private async Task<string> FetchTokenAsync(AuthChallenge c, string repository, (string User, string Password)? creds, CancellationToken ct)
    {
        var realm = c["realm"];
        if (string.IsNullOrEmpty(realm) || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri)
            || (realmUri.Scheme != "https" && realmUri.Scheme != "http"))
            throw new RtException($"registry {_domain} sent a Bearer challenge without a valid http(s) realm");
        var query = new StringBuilder();
        var service = c["service"];
        if (!string.IsNullOrEmpty(service)) query.Append("service=").Append(Uri.EscapeDataString(service)).Append('&');
        query.Append("scope=").Append(Uri.EscapeDataString($"repository:{repository}:pull"));
        var ub = new UriBuilder(realmUri);
        ub.Query = string.IsNullOrEmpty(ub.Query) || ub.Query == "?" ? query.ToString() : ub.Query.TrimStart('?') + "&" + query;
        using var req = new HttpRequestMessage(HttpMethod.Get, ub.Uri);
        if (creds is not null)
        {
            RequireSafeTransport(ub.Uri, "send a password to token server");
            req.Headers.Authorization = BasicHeader(creds.Value);
        }
        HttpResponseMessage resp;
        try
        {
            resp = await SendWithStallAsync(req, StallTimeout, true, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new RtException($"cannot reach token server {realmUri.Host} of registry {_domain}: {e.Message}", e);
        }
        using (resp)
        {
            if (resp.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                throw new RtException($"token server of {_domain} refused access to {repository}"
                    + (creds is null ? " (no credentials configured)" : $" for {creds.Value.User}") + await ErrorDetail(resp, ct).ConfigureAwait(false));
            await EnsureOk(resp, $"fetching a token from {realmUri.Host}", ct).ConfigureAwait(false);
            var body = await ReadBoundedAsync(resp, MaxTokenResponse, "token response", ct).ConfigureAwait(false);
            TokenResponse? tr;
            try
            {
                tr = JsonSerializer.Deserialize(body, ImageJsonContext.Default.TokenResponse);
            }
            catch (JsonException)
            {
                throw new RtException($"token server of {_domain} answered with invalid JSON");
            }
            var token = tr?.Token ?? tr?.AccessToken;
            if (string.IsNullOrEmpty(token) || token.Length > 64 << 10)
                throw new RtException($"token server of {_domain} answered without a token");
            foreach (var ch in token)
                if (ch <= ' ' || ch >= 0x7f) throw new RtException($"token server of {_domain} sent a token with invalid characters");
            return token;
        }
    }

    private async Task<HttpResponseMessage> SendWithStallAsync(HttpRequestMessage req, TimeSpan timeout, bool explain, CancellationToken ct)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stall.CancelAfter(timeout);
        try
        {
            return await _http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, stall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (explain && !ct.IsCancellationRequested)
        {
            throw new RtException($"{req.RequestUri?.Authority} did not answer {req.Method} {req.RequestUri?.AbsolutePath} within {StallTimeout.TotalSeconds:0} s");
        }
    }

    /// <summary>
    /// One read of a response body that fails with a clear error when no byte arrives for <paramref name="timeout"/>.
    /// <paramref name="stall"/> is a token source linked to the caller's, reused across reads (re-armed each time).
    /// </summary>
    internal static async ValueTask<int> ReadAsync(Stream body, Memory<byte> buffer, CancellationTokenSource stall, TimeSpan timeout, string what, CancellationToken ct)
    {
        stall.CancelAfter(timeout);
        try
        {
            return await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new RtException($"{what}: no data for {timeout.TotalSeconds:0} s; pull again to resume");
        }
    }

    private void RequireSafeTransport(Uri uri, string what)
    {
        if (uri.Scheme == "https" || _insecure || uri.IsLoopback) return;
        throw new RtException($"refusing to {what} {uri.Host} over plain HTTP (use --insecure to allow)");
    }

    private (string User, string Password)? Credentials()
    {
        if (!_credentialsLoaded)
        {
            _credentials = DockerConfig.Lookup(_domain);
            _credentialsLoaded = true;
        }
        return _credentials;
    }

    private static AuthenticationHeaderValue BasicHeader((string User, string Password) c)
        => new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(c.User + ":" + c.Password)));

    private async Task EnsureOk(HttpResponseMessage resp, string what, CancellationToken ct)
    {
        if (resp.IsSuccessStatusCode) return;
        throw new RtException($"{what}: registry {_domain} answered {(int)resp.StatusCode} {resp.ReasonPhrase}{await ErrorDetail(resp, ct).ConfigureAwait(false)}");
    }

    /// <summary>The registry's error message (distribution API <c>errors[].message</c>), truncated and sanitised.</summary>
    private async Task<string> ErrorDetail(HttpResponseMessage resp, CancellationToken ct)
    {
        try
        {
            var body = await ReadBoundedAsync(resp, MaxErrorBody, "error", ct, truncate: true).ConfigureAwait(false);
            if (body.Length == 0) return "";
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("errors", out var errs) && errs.ValueKind == JsonValueKind.Array)
            {
                foreach (var e in errs.EnumerateArray())
                {
                    var code = e.ValueKind == JsonValueKind.Object && e.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
                    var msg = e.ValueKind == JsonValueKind.Object && e.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
                    if (code is null && msg is null) continue;
                    return ": " + Sanitise($"{code}{(code is not null && msg is not null ? " " : "")}{msg}");
                }
            }
        }
        catch (Exception e) when (e is JsonException or RtException or HttpRequestException or IOException)
        {
        }
        return "";
    }

    private static string Sanitise(string s)
    {
        var sb = new StringBuilder(Math.Min(s.Length, 200));
        foreach (var c in s)
        {
            if (sb.Length >= 200) { sb.Append('…'); break; }
            sb.Append(c < ' ' || c == 0x7f ? '?' : c);
        }
        return sb.ToString();
    }

    /// <summary>Reads a response body of at most <paramref name="max"/> bytes (an error beyond, or a cut with truncate).</summary>
    internal async Task<byte[]> ReadBoundedAsync(HttpResponseMessage resp, int max, string what, CancellationToken ct, bool truncate = false)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var declared = resp.Content.Headers.ContentLength;
        if (declared > max && !truncate) throw new RtException($"{what} is larger than {max} bytes ({declared})");
        await using var s = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var buf = new byte[declared is { } n && n <= max ? (int)n : Math.Min(max, 64 << 10)];
        var len = 0;
        while (true)
        {
            if (len == buf.Length)
            {
                if (len >= max)
                {
                    if (truncate) break;
                    // Probe one more byte: exactly max is fine, more is not.
                    var one = new byte[1];
                    if (await ReadAsync(s, one, stall, StallTimeout, what, ct).ConfigureAwait(false) == 0) break;
                    throw new RtException($"{what} is larger than {max} bytes");
                }
                Array.Resize(ref buf, (int)Math.Min((long)buf.Length * 2, max));
            }
            int r;
            try
            {
                r = await ReadAsync(s, buf.AsMemory(len), stall, StallTimeout, what, ct).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                throw new RtException($"{what}: connection lost ({e.Message})", e);
            }
            catch (IOException e)
            {
                throw new RtException($"{what}: connection lost ({e.Message})", e);
            }
            if (r == 0) break;
            len += r;
        }
        return len == buf.Length ? buf : buf.AsSpan(0, len).ToArray();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _http.Dispose();
        _authGate.Dispose();
    }
}

internal sealed class TokenResponse
{
    [JsonPropertyName("token")] public string? Token { get; set; }
    [JsonPropertyName("access_token")] public string? AccessToken { get; set; }
    [JsonPropertyName("expires_in")] public int? ExpiresIn { get; set; }
}
