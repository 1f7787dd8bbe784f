using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Tinyo.Api;

namespace Tinyo.Ctl.Client;

/// <summary>
/// The node API client: one HTTP/1.1 request per connection (Connection: close), JSON bodies, bearer token.
/// Small on purpose: HttpClient would add megabytes to the tio binary for features a local API does not need.
/// TCP addresses speak TLS (<c>tcp+plain://</c> only when asked): the node's certificate must match <see cref="Pin"/>
/// when one is set, else be trusted by the system for the host name.
/// </summary>
public sealed class NodeClient(NodeAddress address, string? token = null)
{
    /// <summary>The pinned public key of the node's TLS certificate (<see cref="CertificatePin"/>), or null.</summary>
    public string? Pin { get; init; }

    /// <summary>
    /// Accept whatever key the node presents (only for a join: the join's proofs are bound to <see cref="PresentedPin"/>,
    /// so a node that cannot prove it knows the password is refused after the fact; nothing is trusted on first use).
    /// </summary>
    public bool AcceptAnyKey { get; init; }

    /// <summary>The pin of the certificate the node presented on the last TLS connection (to show or save it).</summary>
    public string? PresentedPin { get; private set; }

    private const int MaxResponseBytes = 16 << 20;
    private static readonly ApiJson J = ApiJson.Default;

    /// <summary>The node's address.</summary>
    public NodeAddress Address => address;

    /// <summary>Timeout of one call.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>GET /v1/version (no token needed).</summary>
    public Task<VersionInfo> VersionAsync(CancellationToken ct = default) => CallAsync("GET", "/v1/version", null, J.VersionInfo, ct);

    /// <summary>POST /v1/init.</summary>
    public Task<NetInfo> InitAsync(InitRequest r, CancellationToken ct = default) => CallAsync("POST", "/v1/init", Json(r, J.InitRequest), J.NetInfo, ct);

    /// <summary>POST /v1/login.</summary>
    public Task<LoginResponse> LoginAsync(string user, string password, CancellationToken ct = default)
        => CallAsync("POST", "/v1/login", Json(new LoginRequest(user, password), J.LoginRequest), J.LoginResponse, ct);

    /// <summary>POST /v1/logout: revokes this client's token.</summary>
    public Task LogoutAsync(CancellationToken ct = default) => CallAsync("POST", "/v1/logout", null, ct);

    /// <summary>GET /v1/status.</summary>
    public Task<NodeStatus> StatusAsync(CancellationToken ct = default) => CallAsync("GET", "/v1/status", null, J.NodeStatus, ct);

    /// <summary>GET /v1/nodes: the cluster's nodes (<c>tio node ls</c>).</summary>
    public Task<List<Tinyo.Api.Cluster.NodeInfo>> NodesAsync(CancellationToken ct = default)
        => CallAsync("GET", "/v1/nodes", null, Tinyo.Api.Cluster.ClusterJson.Default.ListNodeInfo, ct);

    /// <summary>POST /v1/nodes/NAME: drains the node (its replicas moved, waiting until they run elsewhere); it stays in the cluster.</summary>
    public Task<Tinyo.Api.Cluster.DrainResult> NodeDrainAsync(string name, CancellationToken ct = default)
        => CallAsync("POST", "/v1/nodes/" + Uri.EscapeDataString(name), null, Tinyo.Api.Cluster.ClusterJson.Default.DrainResult, ct);

    /// <summary>DELETE /v1/nodes/NAME: drains the node, then removes it from the registry and the KV group.</summary>
    public Task<Tinyo.Api.Cluster.DrainResult> NodeRemoveAsync(string name, CancellationToken ct = default)
        => CallAsync("DELETE", "/v1/nodes/" + Uri.EscapeDataString(name), null, Tinyo.Api.Cluster.ClusterJson.Default.DrainResult, ct);

    /// <summary>POST /v1/cluster/challenge (no token: the first step of a join).</summary>
    public Task<Tinyo.Api.Cluster.JoinChallenge> ClusterChallengeAsync(Tinyo.Api.Cluster.JoinChallengeRequest r, CancellationToken ct = default)
        => CallAsync("POST", "/v1/cluster/challenge", Json(r, Tinyo.Api.Cluster.ClusterJson.Default.JoinChallengeRequest),
            Tinyo.Api.Cluster.ClusterJson.Default.JoinChallenge, ct);

    /// <summary>POST /v1/cluster/join (no token: the request carries its own proof).</summary>
    public Task<Tinyo.Api.Cluster.JoinResponse> ClusterJoinAsync(Tinyo.Api.Cluster.JoinRequest r, CancellationToken ct = default)
        => CallAsync("POST", "/v1/cluster/join", Json(r, Tinyo.Api.Cluster.ClusterJson.Default.JoinRequest),
            Tinyo.Api.Cluster.ClusterJson.Default.JoinResponse, ct);

    /// <summary>GET /v1/stats[?app=NAME]: the usage of the replicas on the node.</summary>
    public Task<NodeStats> StatsAsync(string? app = null, CancellationToken ct = default)
        => CallAsync("GET", "/v1/stats" + (app is null ? "" : "?app=" + Uri.EscapeDataString(app)), null, StatsJson.Default.NodeStats, ct);

    /// <summary>GET /v1/metrics/token (made on first use), or with <paramref name="rotate"/> POST: a new one.</summary>
    public Task<MetricsToken> MetricsTokenAsync(bool rotate = false, CancellationToken ct = default)
        => CallAsync(rotate ? "POST" : "GET", "/v1/metrics/token", null, StatsJson.Default.MetricsToken, ct);

    /// <summary>GET /v1/nets.</summary>
    public Task<List<NetInfo>> NetsAsync(CancellationToken ct = default) => CallAsync("GET", "/v1/nets", null, J.ListNetInfo, ct);

    /// <summary>POST /v1/nets.</summary>
    public Task<NetInfo> NetCreateAsync(string name, CancellationToken ct = default) => NetCreateAsync(name, null, ct);

    /// <summary>POST /v1/nets; <paramref name="egress"/> false: the cluster's replicas reach nothing beyond it.</summary>
    public Task<NetInfo> NetCreateAsync(string name, bool? egress, CancellationToken ct = default) => CallAsync("POST", "/v1/nets", Json(new NetRequest(name, egress), J.NetRequest), J.NetInfo, ct);

    /// <summary>PUT /v1/nets/NAME: egress of an existing net on or off (applied by every node that has it).</summary>
    public Task<NetInfo> NetEgressAsync(string name, bool egress, CancellationToken ct = default)
        => CallAsync("PUT", "/v1/nets/" + Uri.EscapeDataString(name), Json(new NetRequest(name, egress), J.NetRequest), J.NetInfo, ct);

    /// <summary>DELETE /v1/nets/NAME.</summary>
    public Task NetDeleteAsync(string name, CancellationToken ct = default) => CallAsync("DELETE", "/v1/nets/" + Uri.EscapeDataString(name), null, ct);

    /// <summary>GET /v1/users.</summary>
    public Task<List<UserInfo>> UsersAsync(CancellationToken ct = default) => CallAsync("GET", "/v1/users", null, J.ListUserInfo, ct);

    /// <summary>POST /v1/users: <paramref name="role"/> admin (default), deployer (of <paramref name="clusters"/>) or viewer.</summary>
    public Task UserAddAsync(string name, string password, string? role = null, IReadOnlyList<string>? clusters = null, CancellationToken ct = default)
        => CallAsync("POST", "/v1/users", Json(new UserRequest(name, password, role, clusters), J.UserRequest), ct);

    /// <summary>GET /v1/binds: the host paths a non-admin may bind.</summary>
    public Task<BindPolicy> BindsAsync(CancellationToken ct = default) => CallAsync("GET", "/v1/binds", null, J.BindPolicy, ct);

    /// <summary>PUT /v1/binds (admins): replaces the host paths a non-admin may bind.</summary>
    public Task<BindPolicy> BindsSetAsync(IReadOnlyList<string> paths, CancellationToken ct = default)
        => CallAsync("PUT", "/v1/binds", Json(new BindPolicy(paths), J.BindPolicy), J.BindPolicy, ct);

    /// <summary>DELETE /v1/users/NAME.</summary>
    public Task UserRemoveAsync(string name, CancellationToken ct = default) => CallAsync("DELETE", "/v1/users/" + Uri.EscapeDataString(name), null, ct);

    /// <summary>GET /v1/secrets (names only, never values).</summary>
    public Task<List<SecretInfo>> SecretsAsync(CancellationToken ct = default) => CallAsync("GET", "/v1/secrets", null, J.ListSecretInfo, ct);

    /// <summary>PUT /v1/secrets/NAME.</summary>
    public Task SecretAddAsync(string name, byte[] value, CancellationToken ct = default)
        => CallAsync("PUT", "/v1/secrets/" + Uri.EscapeDataString(name), Json(new SecretRequest(Convert.ToBase64String(value)), J.SecretRequest), ct);

    /// <summary>DELETE /v1/secrets/NAME.</summary>
    public Task SecretRemoveAsync(string name, CancellationToken ct = default) => CallAsync("DELETE", "/v1/secrets/" + Uri.EscapeDataString(name), null, ct);

    /// <summary>GET /v1/apps.</summary>
    public Task<List<AppInfo>> AppsAsync(CancellationToken ct = default) => CallAsync("GET", "/v1/apps", null, J.ListAppInfo, ct);

    /// <summary>POST /v1/apps.</summary>
    public Task<List<ApplyResult>> ApplyAsync(string file, string yaml, string? baseDir = null, CancellationToken ct = default)
        => CallAsync("POST", "/v1/apps", Json(new ApplyRequest(file, yaml, baseDir), J.ApplyRequest), J.ListApplyResult, ct);

    /// <summary>POST /v1/apps/NAME/dup: <paramref name="count"/> more replicas, duplicated from a running one.</summary>
    public Task<DupResponse> AppDupAsync(string name, int count, CancellationToken ct = default)
        => CallAsync("POST", "/v1/apps/" + Uri.EscapeDataString(name) + "/dup", Json(new DupRequest(count), J.DupRequest), J.DupResponse, ct);

    /// <summary>DELETE /v1/apps/NAME.</summary>
    public Task AppRemoveAsync(string name, CancellationToken ct = default) => CallAsync("DELETE", "/v1/apps/" + Uri.EscapeDataString(name), null, ct);

    /// <summary>
    /// GET /v1/apps/NAME/logs: writes replica <paramref name="replica"/>'s output to <paramref name="output"/> as it
    /// arrives (the last <paramref name="tail"/> lines, all when null); with <paramref name="follow"/> it goes on until
    /// the container stops or <paramref name="ct"/> is cancelled.
    /// </summary>
    public Task LogsAsync(string app, int replica, int? tail, bool follow, Stream output, CancellationToken ct = default)
    {
        var path = $"/v1/apps/{Uri.EscapeDataString(app)}/logs?replica={replica}" + (tail is { } t ? $"&tail={t}" : "") + (follow ? "&follow=1" : "");
        return StreamAsync("GET", path, null, async (data, c) =>
        {
            await output.WriteAsync(data, c).ConfigureAwait(false);
            await output.FlushAsync(c).ConfigureAwait(false);
        }, ct);
    }

    /// <summary>
    /// POST /v1/apps/NAME/exec: runs a command in a replica, writing its stdout and stderr to the given streams as
    /// they arrive; returns its exit code.
    /// </summary>
    public async Task<int> ExecAsync(string app, ExecRequest request, Stream stdout, Stream stderr, CancellationToken ct = default)
    {
        int? exit = null;
        var pending = new MemoryStream();
        await StreamAsync("POST", $"/v1/apps/{Uri.EscapeDataString(app)}/exec", Json(request, J.ExecRequest), async (data, c) =>
        {
            // Frames: [kind:1][length:4 BE][payload]; a frame may span pieces of the body.
            pending.Write(data.Span);
            var b = pending.GetBuffer().AsMemory(0, (int)pending.Length);
            int pos = 0;
            while (b.Length - pos >= 5)
            {
                int len = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(b.Span[(pos + 1)..]);
                if (len < 0 || len > 1 << 24) throw new CtlException("malformed exec stream from the node");
                if (b.Length - pos - 5 < len) break;
                var payload = b.Slice(pos + 5, len);
                switch (b.Span[pos])
                {
                    case ExecFrames.Stdout:
                        await stdout.WriteAsync(payload, c).ConfigureAwait(false);
                        await stdout.FlushAsync(c).ConfigureAwait(false);
                        break;
                    case ExecFrames.Stderr:
                        await stderr.WriteAsync(payload, c).ConfigureAwait(false);
                        await stderr.FlushAsync(c).ConfigureAwait(false);
                        break;
                    case ExecFrames.Exit when len == 4:
                        exit = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(payload.Span);
                        break;
                    default:
                        throw new CtlException("malformed exec stream from the node");
                }
                pos += 5 + len;
            }
            var rest = b[pos..].ToArray();
            pending.SetLength(0);
            pending.Write(rest);
        }, ct).ConfigureAwait(false);
        return exit ?? throw new CtlException("the node's exec stream ended without the command's exit code");
    }

    /// <summary>
    /// Sends one request whose answer is streamed: <paramref name="onData"/> gets each piece of a 2xx body as it
    /// arrives; an error answer throws <see cref="ApiException"/>. Only connecting and the answer's head are bound
    /// by <see cref="Timeout"/> (a followed log may run for hours).
    /// </summary>
    public async Task StreamAsync(string method, string path, byte[]? body, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onData, CancellationToken ct = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        using var socket = await ConnectAsync(timeout.Token, ct).ConfigureAwait(false);
        try
        {
            await using var stream = await OpenStreamAsync(socket, timeout.Token).ConfigureAwait(false);
            await stream.WriteAsync(Request(method, path, body), timeout.Token).ConfigureAwait(false);
            var reader = new ResponseReader(stream);
            await reader.ReadHeadAsync(timeout.Token).ConfigureAwait(false);
            if (reader.Status is < 200 or >= 300)
            {
                Check(reader.Status, await reader.ReadAllAsync(MaxResponseBytes, timeout.Token).ConfigureAwait(false));
                return;
            }
            timeout.CancelAfter(System.Threading.Timeout.InfiniteTimeSpan);
            await reader.ReadBodyAsync(onData, timeout.Token).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            throw new NodeUnreachableException($"connection to the node at {address} failed: {e.Message}", e);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new NodeUnreachableException($"the node at {address} did not answer within {Timeout.TotalSeconds:0}s");
        }
    }

    private async Task<Socket> ConnectAsync(CancellationToken timeout, CancellationToken ct)
    {
        Socket? socket = null;
        try
        {
            if (address.SocketPath is { } p)
            {
                socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(p), timeout).ConfigureAwait(false);
            }
            else
            {
                socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(address.Tcp!, timeout).ConfigureAwait(false);
            }
            return socket;
        }
        catch (SocketException e)
        {
            socket?.Dispose();
            throw new NodeUnreachableException($"cannot reach the node at {address}: {e.Message} (is it running? tio ++ starts one)", e);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            socket?.Dispose();
            throw new NodeUnreachableException($"cannot reach the node at {address}: timed out");
        }
    }

    /// <summary>The connection's stream: the socket's own, or TLS over it for a TCP address.</summary>
    private async Task<Stream> OpenStreamAsync(Socket socket, CancellationToken ct)
    {
        var plain = new NetworkStream(socket, ownsSocket: false);
        if (address.Tcp is null || address.Plain) return plain;
        var tls = new SslStream(plain, leaveInnerStreamOpen: false);
        string? presented = null;
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = address.Tcp.Host,
                EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
                RemoteCertificateValidationCallback = (_, cert, _, errors) =>
                {
                    if (cert is null) return false;
                    presented = CertificatePin.Of(cert);
                    // Pinned: that key and no other, whoever signed it. Not pinned: a certificate the system trusts for the name.
                    if (AcceptAnyKey) return true;
                    return Pin is not null ? CertificatePin.Matches(presented, Pin) : errors == SslPolicyErrors.None;
                },
            }, ct).ConfigureAwait(false);
        }
        catch (System.Security.Authentication.AuthenticationException e)
        {
            await tls.DisposeAsync().ConfigureAwait(false);
            PresentedPin = presented;
            if (presented is null)
                throw new NodeUnreachableException($"TLS with the node at {address} failed: {e.Message} (a node started with --plain-tcp is reached as tcp+plain://)", e);
            throw new UntrustedNodeException(address, presented, Pin);
        }
        PresentedPin = presented;
        return tls;
    }

    private byte[] Request(string method, string path, byte[]? body)
    {
        var head = new StringBuilder();
        head.Append(method).Append(' ').Append(path).Append(" HTTP/1.1\r\nHost: tinyo\r\nConnection: close\r\n");
        if (token is not null) head.Append("Authorization: Bearer ").Append(token).Append("\r\n");
        if (body is not null) head.Append("Content-Type: application/json\r\n");
        head.Append("Content-Length: ").Append(body?.Length ?? 0).Append("\r\n\r\n");
        var h = Encoding.ASCII.GetBytes(head.ToString());
        var all = new byte[h.Length + (body?.Length ?? 0)];
        h.CopyTo(all, 0);
        body?.CopyTo(all, h.Length);
        return all;
    }

    private static byte[] Json<T>(T v, JsonTypeInfo<T> info) => JsonSerializer.SerializeToUtf8Bytes(v, info);

    private async Task<T> CallAsync<T>(string method, string path, byte[]? body, JsonTypeInfo<T> info, CancellationToken ct)
    {
        var (status, resp) = await SendAsync(method, path, body, ct).ConfigureAwait(false);
        Check(status, resp);
        try
        {
            return JsonSerializer.Deserialize(resp, info) ?? throw new CtlException("empty answer from the node");
        }
        catch (JsonException e)
        {
            throw new CtlException($"malformed answer from the node: {e.Message}");
        }
    }

    private async Task CallAsync(string method, string path, byte[]? body, CancellationToken ct)
    {
        var (status, resp) = await SendAsync(method, path, body, ct).ConfigureAwait(false);
        Check(status, resp);
    }

    private static void Check(int status, byte[] resp)
    {
        if (status is >= 200 and < 300) return;
        ErrorBody? e = null;
        try
        {
            e = JsonSerializer.Deserialize(resp, J.ErrorBody);
        }
        catch (JsonException)
        {
        }
        throw new ApiException(status, e?.Code ?? "http_" + status, e?.Error ?? $"the node answered HTTP {status}", e);
    }

    /// <summary>Sends one request; returns the status and body.</summary>
    public async Task<(int Status, byte[] Body)> SendAsync(string method, string path, byte[]? body, CancellationToken ct = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        using var socket = await ConnectAsync(timeout.Token, ct).ConfigureAwait(false);
        var head = new StringBuilder();
        head.Append(method).Append(' ').Append(path).Append(" HTTP/1.1\r\nHost: tinyo\r\nConnection: close\r\nAccept: application/json\r\n");
        if (token is not null) head.Append("Authorization: Bearer ").Append(token).Append("\r\n");
        if (body is not null) head.Append("Content-Type: application/json\r\n");
        head.Append("Content-Length: ").Append(body?.Length ?? 0).Append("\r\n\r\n");
        try
        {
            await using var stream = await OpenStreamAsync(socket, timeout.Token).ConfigureAwait(false);
            var h = Encoding.ASCII.GetBytes(head.ToString());
            var all = new byte[h.Length + (body?.Length ?? 0)];
            h.CopyTo(all, 0);
            body?.CopyTo(all, h.Length);
            await stream.WriteAsync(all, timeout.Token).ConfigureAwait(false);
            var ms = new MemoryStream();
            var buf = new byte[16384];
            int n;
            while ((n = await stream.ReadAsync(buf, timeout.Token).ConfigureAwait(false)) > 0)
            {
                ms.Write(buf, 0, n);
                if (ms.Length > MaxResponseBytes) throw new CtlException("answer from the node too large");
            }
            try
            {
                return ParseResponse(ms.ToArray());
            }
            catch (CtlException e) when (address.Plain)
            {
                throw new CtlException($"{e.Message} (a node serves TLS on its TCP port unless started with --plain-tcp: try tcp://{address.Tcp!.Host}:{address.Tcp.Port})", e);
            }
        }
        catch (IOException e)
        {
            throw new NodeUnreachableException($"connection to the node at {address} failed: {e.Message}", e);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new NodeUnreachableException($"the node at {address} did not answer within {Timeout.TotalSeconds:0}s");
        }
    }

    private static (int, byte[]) ParseResponse(byte[] r)
    {
        var end = r.AsSpan().IndexOf("\r\n\r\n"u8);
        if (end < 0 || r.Length < 12 || !r.AsSpan().StartsWith("HTTP/1."u8)) throw new CtlException("malformed answer from the node");
        if (!int.TryParse(Encoding.ASCII.GetString(r, 9, 3), out var status)) throw new CtlException("malformed status from the node");
        var headers = Encoding.ASCII.GetString(r, 0, end);
        var body = r[(end + 4)..];
        foreach (var line in headers.Split("\r\n"))
            if (line.StartsWith("content-length:", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(line.AsSpan(15).Trim(), out var len) && len <= body.Length)
                body = body[..len];
        return (status, body);
    }
}
