using Tinyo.Api;
using Tinyo.Node.Http;
using Tinyo.Node.Metrics;
using Tinyo.Node.Store;

namespace Tinyo.Node.Api;

// GET /metrics (Prometheus text; the metrics token or any user's token), GET /v1/stats[?app=NAME] (tio stats; any
// user), GET|POST /v1/metrics/token (show or replace the metrics token; admins).
public sealed partial class NodeApi
{
    /// <summary>The collector behind /metrics and /v1/stats (null: both answer 503).</summary>
    public NodeMetrics? Metrics { get; set; }

    /// <summary>How long a node trusts its copy of the metrics token before reading the KV again (a rotation reaches
    /// every node within this).</summary>
    private static readonly TimeSpan MetricsTokenCache = TimeSpan.FromSeconds(5);

    private (string Token, DateTimeOffset Until)? metricsToken;

    /// <summary>
    /// The handler of the metrics-only listener (<c>--metrics-listen</c>): <c>GET /metrics</c> and nothing else, so
    /// the address Prometheus scrapes exposes no other route.
    /// </summary>
    public async Task<HttpResponse> HandleMetricsOnlyAsync(HttpRequest req, CancellationToken ct)
    {
        if (req.Path != "/metrics") return Err(404, $"no such route: {req.Path} (this listener serves /metrics only)", "not_found");
        try
        {
            return await ScrapeAsync(req, ct);
        }
        catch (Kv.KvException e)
        {
            return Err(503, $"cluster state unavailable: {e.Message}", "kv_unavailable");
        }
    }

    private async Task<HttpResponse> ScrapeAsync(HttpRequest req, CancellationToken ct)
    {
        if (req.Method != "GET") return Err(405, $"{req.Method} /metrics: only GET", "method_not_allowed");
        if (Metrics is null) return Err(503, "metrics are not enabled on this node", "unavailable");
        if (!await MetricsReaderAsync(req, ct))
            return Err(401, "/metrics needs Authorization: Bearer TOKEN (the metrics token, tio metrics token, or a user's)", "unauthorized");
        using var buffer = new PooledBuffer();
        await Metrics.WriteAsync(buffer, ct);
        return new HttpResponse(200, buffer.ToArray(), MetricsText.ContentType);
    }

    /// <summary>The metrics token (from a cached copy) or any live user token may read metrics.</summary>
    private async Task<bool> MetricsReaderAsync(HttpRequest req, CancellationToken ct)
    {
        if (!req.Headers.TryGetValue("authorization", out var auth) || !auth.StartsWith("Bearer ", StringComparison.Ordinal)) return false;
        var presented = auth["Bearer ".Length..].Trim();
        if (metricsToken is not { } cached || cached.Until < DateTimeOffset.UtcNow)
        {
            var (token, _) = await new MetricsTokenStore(store, secrets).GetOrCreateAsync(ct);
            metricsToken = cached = (token, DateTimeOffset.UtcNow + MetricsTokenCache);
        }
        return MetricsTokenStore.Matches(presented, cached.Token) || await AuthenticateAsync(req, ct) is not null;
    }

    private async Task<HttpResponse> StatsAsync(HttpRequest req, CancellationToken ct)
    {
        if (Metrics is null) return Err(503, "stats are not enabled on this node", "unavailable");
        string? app = null;
        foreach (var pair in req.Query.Split('&', StringSplitOptions.RemoveEmptyEntries))
            if (pair.StartsWith("app=", StringComparison.Ordinal)) app = ValidName(Uri.UnescapeDataString(pair[4..]), "app");
        if (app is not null && !await store.ExistsAsync(Keys.Apps + app, ct)) return Err(404, $"no such app: {app}", "not_found");
        return Ok(await Metrics.SampleAsync(app, ct), StatsJson.Default.NodeStats);
    }

    private async Task<HttpResponse> MetricsTokenAsync(bool rotate, string by, CancellationToken ct)
    {
        var tokens = new MetricsTokenStore(store, secrets);
        var (token, created) = rotate ? await tokens.RotateAsync(ct) : await tokens.GetOrCreateAsync(ct);
        metricsToken = null;
        if (rotate) options.Log($"metrics token replaced by {by}");
        return Ok(new MetricsToken(token, created), StatsJson.Default.MetricsToken);
    }
}
