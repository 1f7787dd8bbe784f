using Tinyo.Kv.Client;
using Tinyo.Node.Api;
using Tinyo.Node.Http;
using Tinyo.Node.Security;
using Tinyo.Node.Store;

namespace Tinyo.Node;

/// <summary>
/// The node daemon: opens the node key, connects to tinyokv, serves the API. The reconciler (desired state →
/// runtime) will be started here too; its seam is <see cref="StateStore"/> (watch /tinyo/apps/) and the
/// runtime library.
/// </summary>
public sealed class NodeDaemon(NodeOptions options) : IAsyncDisposable
{
    private KvClient? kv;
    private HttpServer? server;

    /// <summary>The TCP endpoint actually bound (port 0 resolves), or null.</summary>
    public System.Net.IPEndPoint? TcpEndpoint { get; private set; }

    /// <summary>Starts serving.</summary>
    public void Start()
    {
        Directory.CreateDirectory(options.Root);
        var box = SecretBox.Open(Path.Combine(options.Root, "node.key"));
        kv = new KvClient(new KvClientOptions { Endpoints = options.KvEndpoints, Token = options.KvToken, RequestTimeout = TimeSpan.FromSeconds(10) });
        var api = new NodeApi(options, new StateStore(kv), box);
        server = new HttpServer(api.HandleAsync, log: options.Log);
        server.ListenUnix(options.Socket);
        if (options.Tcp is { } tcp) TcpEndpoint = server.ListenTcp(tcp);
        options.Log($"{options.Name} serving on {options.Socket}{(TcpEndpoint is null ? "" : " and " + TcpEndpoint)}, kv {string.Join(',', options.KvEndpoints)}");
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (server is not null) await server.DisposeAsync();
        if (kv is not null) await kv.DisposeAsync();
        try
        {
            File.Delete(options.Socket);
        }
        catch (IOException)
        {
        }
    }
}
