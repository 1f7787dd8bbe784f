using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Tinyo.Api.Cluster;
using Tinyo.Node.Http;

namespace Tinyo.Node.Cluster;

/// <summary>
/// Every node equal for a replica's logs and exec (issue 14): a request for a replica that runs on another node is
/// sent on to that node's API and its answer streamed back as it comes. Node to node is mutual TLS with the cluster's
/// identity from the join: this node presents its own certificate (<c>pki/node.crt</c>) and accepts only a server
/// certificate the cluster CA signed for the address the node registry gives for the node the placement names. The caller's token goes with the request
/// (users and tokens are in the shared KV), so the owning node checks the caller exactly as if it had been asked
/// directly; the header <see cref="Header"/> tells it not to forward again (honoured only from a cluster node).
/// </summary>
public sealed class ReplicaForwarder : IDisposable
{
    /// <summary>The header a forwarded request carries: the name of the node that forwarded it.</summary>
    public const string Header = "Tinyo-Forwarded-By";

    /// <summary>How long to wait for the owning node's TCP connection and TLS handshake.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(3);

    private const int MaxErrorBody = 64 * 1024;
    private readonly string self;
    private readonly X509Certificate2 ca;
    private readonly X509Certificate2 own;
    private readonly HttpClient client;

    /// <summary>Loads this node's certificate and the CA's from <paramref name="pki"/>.</summary>
    public ReplicaForwarder(ClusterPki pki, string self)
    {
        this.self = self;
        ca = pki.LoadCa();
        own = pki.LoadNode();
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = ConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            UseProxy = false,
            AllowAutoRedirect = false,
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = [own],
                // The name check stays the platform's (the owner's address must be in the certificate, as the CA
                // signed it at the join); the chain is checked against the cluster CA only, not the system's roots.
                RemoteCertificateValidationCallback = (_, cert, _, errors)
                    => (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None && Trusted(cert),
            },
        };
        client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>True for a certificate the cluster CA signed that is valid now.</summary>
    private bool Trusted(X509Certificate? cert)
    {
        if (cert is null) return false;
        using var c = X509CertificateLoader.LoadCertificate(cert.GetRawCertData());
        return ClusterCa.Verify(c, ca) is null;
    }

    /// <summary>
    /// Sends <paramref name="req"/> (method, path, query, token, body) to <paramref name="owner"/> and returns its
    /// answer: a streamed one (logs, exec frames) is relayed chunk by chunk until either side ends it; any other is
    /// returned whole. An owner that does not answer is a 502 naming it; the caller sees why, not a hang.
    /// </summary>
    public async Task<HttpResponse> ForwardAsync(HttpRequest req, NodeRecord owner, string what, CancellationToken ct)
    {
        if (owner.Address == "local" || owner.ApiPort <= 0)
            return HttpServer.Error(502, $"{what} runs on node {owner.Name}, which serves no cluster API port to forward to (tio ++ --addr on that node)", "node_unreachable");
        var host = owner.Address.Contains(':', StringComparison.Ordinal) ? "[" + owner.Address + "]" : owner.Address;
        var uri = new Uri($"https://{host}:{owner.ApiPort}{Uri.EscapeDataString(req.Path).Replace("%2F", "/", StringComparison.Ordinal)}{(req.Query.Length > 0 ? "?" + req.Query : "")}");
        using var msg = new HttpRequestMessage(new HttpMethod(req.Method), uri);
        if (req.Headers.TryGetValue("authorization", out var auth)) msg.Headers.TryAddWithoutValidation("Authorization", auth);
        msg.Headers.TryAddWithoutValidation(Header, self);
        if (req.Method != "GET")
        {
            msg.Content = new ByteArrayContent(req.Body);
            msg.Content.Headers.TryAddWithoutValidation("Content-Type", req.Headers.GetValueOrDefault("content-type") ?? "application/json");
        }
        HttpResponseMessage answer;
        try
        {
            answer = await client.SendAsync(msg, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            var why = e is TaskCanceledException ? $"no answer within {ConnectTimeout.TotalSeconds:0} s" : Reason(e);
            return HttpServer.Error(502, $"{what} runs on node {owner.Name} ({owner.Address}:{owner.ApiPort}), which does not answer: {why}", "node_unreachable");
        }
        var type = answer.Content.Headers.ContentType?.ToString() ?? "application/json";
        if (answer.StatusCode == System.Net.HttpStatusCode.OK && answer.Content.Headers.ContentLength is null)
        {
            return new HttpResponse(200, [], type)
            {
                Streamer = async (body, token) =>
                {
                    using (answer)
                    {
                        await using var from = await answer.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
                        await from.CopyToAsync(body, 16 * 1024, token).ConfigureAwait(false);
                    }
                },
            };
        }
        using (answer)
        {
            var bytes = await ReadBoundedAsync(answer.Content, ct).ConfigureAwait(false);
            return new HttpResponse((int)answer.StatusCode, bytes, type);
        }
    }

    private static async Task<byte[]> ReadBoundedAsync(HttpContent content, CancellationToken ct)
    {
        await using var s = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var buf = new byte[MaxErrorBody];
        int n = 0, r;
        while (n < buf.Length && (r = await s.ReadAsync(buf.AsMemory(n), ct).ConfigureAwait(false)) > 0) n += r;
        return buf[..n];
    }

    /// <summary>The innermost message: "Connection refused", "No route to host", a TLS refusal.</summary>
    private static string Reason(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e is System.Security.Authentication.AuthenticationException
            ? "its TLS certificate is not the cluster's (" + e.Message + ")"
            : e.Message;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        client.Dispose();
        own.Dispose();
        ca.Dispose();
    }
}
