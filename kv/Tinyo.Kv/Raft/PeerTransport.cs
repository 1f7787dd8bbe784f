using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Tinyo.Kv.Client;
using Tinyo.Kv.Server;

namespace Tinyo.Kv.Raft;

/// <summary>
/// Raft's transport: plain TCP with a handshake that proves knowledge of the cluster token, plugged into DotNext
/// through <c>RaftCluster.CustomTransportConfiguration</c>. The connecting side sends "TKVPEER1", a u16
/// length and the token; the accepting side checks it in constant time and answers one byte (1) before any Raft
/// message flows, or closes the connection. Without it anyone reaching the peer port could vote or append entries.
/// With peer TLS (<see cref="NodeOptions.PeerTls"/>) the handshake runs inside TLS: the connecting member checks
/// that the other's certificate chains to the peer CA and names the address it dialled, and presents its own
/// certificate, which the accepting member checks when peer-client-cert-auth is on. The token is still required.
/// </summary>
internal static class PeerTransport
{
    private static ReadOnlySpan<byte> Magic => "TKVPEER1"u8;

    // A probe (same layout, other magic) asks a member how it runs before it is added, and is answered with
    // 1 and a flags byte (bit 0: standby), then closed; it never reaches Raft.
    private static ReadOnlySpan<byte> ProbeMagic => "TKVPROBE"u8;
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(2);

    public static byte[] Hello(string token, bool probe = false)
    {
        var t = Encoding.UTF8.GetBytes(token);
        var hello = new byte[Magic.Length + 2 + t.Length];
        (probe ? ProbeMagic : Magic).CopyTo(hello);
        hello[Magic.Length] = (byte)(t.Length >> 8);
        hello[Magic.Length + 1] = (byte)t.Length;
        t.CopyTo(hello, Magic.Length + 2);
        return hello;
    }

    /// <summary>
    /// Asks the member at a peer address whether it runs as a standby (before adding it). Throws
    /// <see cref="KvException"/> naming the problem when it cannot be reached or refuses the token.
    /// </summary>
    public static async Task<bool> ProbeStandbyAsync(EndPoint endpoint, string token, KvServerTls? tls, CancellationToken cancellationToken)
    {
        try
        {
            await using var c = await new Connector(token, tls, probe: true).ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return ((PeerConnection)c).Flags is { } f && (f & 1) != 0;
        }
        catch (Exception e) when (e is IOException or SocketException or ConnectionAbortedException or OperationCanceledException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new KvException($"cannot reach the member at {endpoint} on its peer port: {(e is OperationCanceledException ? "timed out" : e.Message)}");
        }
    }

    /// <summary>Connects to a peer and presents the token.</summary>
    public sealed class Connector(string token, KvServerTls? tls, bool probe = false) : IConnectionFactory
    {
        private readonly byte[] hello = Hello(token, probe);
        private readonly KvClientTls? clientTls = tls?.AsClient(null);

        public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
        {
            var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                cts.CancelAfter(HandshakeTimeout);
                await socket.ConnectAsync(endpoint, cts.Token).ConfigureAwait(false);
                Stream stream = new NetworkStream(socket, ownsSocket: false);
                try
                {
                    if (clientTls is not null)
                    {
                        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                        stream = ssl;
                        string? rejected = null;
                        try
                        {
                            await ssl.AuthenticateAsClientAsync(clientTls.Options(endpoint, r => rejected = r), cts.Token).ConfigureAwait(false);
                        }
                        catch (System.Security.Authentication.AuthenticationException e)
                        {
                            throw new ConnectionAbortedException($"TLS with peer {endpoint} failed: {rejected ?? e.Message}");
                        }
                    }
                    await stream.WriteAsync(hello, cts.Token).ConfigureAwait(false);
                    var ack = new byte[probe ? 2 : 1];
                    try
                    {
                        await stream.ReadExactlyAsync(ack, cts.Token).ConfigureAwait(false);
                    }
                    catch (EndOfStreamException)
                    {
                        ack[0] = 0;
                    }
                    if (ack[0] != 1) throw new ConnectionAbortedException($"peer {endpoint} refused the cluster token");
                    return new PeerConnection(socket, stream) { Flags = probe ? ack[1] : null };
                }
                catch
                {
                    await stream.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>Accepts peers that present the token; others are dropped before reaching Raft.</summary>
    public sealed class Acceptor(string token, KvServerTls? tls, bool standby) : IConnectionListenerFactory
    {
        private readonly byte[] expected = Encoding.UTF8.GetBytes(token);

        public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
        {
            var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            // SO_REUSEADDR only (restart despite TIME_WAIT). .NET\'s ReuseAddress also sets SO_REUSEPORT on Linux,
            // which would let a second member bind the same port.
            socket.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
            try
            {
                socket.Bind(endpoint);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                throw new KvException($"cannot listen for peers on {endpoint}: {e.Message}");
            }
            socket.Listen(128);
            return ValueTask.FromResult<IConnectionListener>(new Listener(socket, expected, tls, standby));
        }
    }

    private sealed class Listener : IConnectionListener
    {
        private readonly Socket socket;
        private readonly byte[] expected;
        private readonly KvServerTls? tls;
        private readonly bool standby;
        private readonly Channel<PeerConnection> accepted = Channel.CreateBounded<PeerConnection>(64);
        private readonly CancellationTokenSource stop = new();
        private readonly Task loop;

        public Listener(Socket socket, byte[] expected, KvServerTls? tls, bool standby)
        {
            this.standby = standby;
            this.socket = socket;
            this.expected = expected;
            this.tls = tls;
            EndPoint = socket.LocalEndPoint!;
            loop = Task.Run(AcceptLoopAsync);
        }

        public EndPoint EndPoint { get; }

        private async Task AcceptLoopAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                Socket s;
                try
                {
                    s = await socket.AcceptAsync(stop.Token).ConfigureAwait(false);
                }
                catch (Exception) when (stop.IsCancellationRequested)
                {
                    break;
                }
                catch (SocketException)
                {
                    continue;
                }
                _ = Task.Run(() => HandshakeAsync(s)); // a slow or hostile peer must not stall other accepts
            }
            accepted.Writer.TryComplete();
        }

        private async Task HandshakeAsync(Socket s)
        {
            Stream stream = new NetworkStream(s, ownsSocket: false);
            try
            {
                s.NoDelay = true;
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                cts.CancelAfter(HandshakeTimeout);
                if (tls is not null)
                {
                    var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                    stream = ssl;
                    await ssl.AuthenticateAsServerAsync(tls.Options(), cts.Token).ConfigureAwait(false);
                    if (tls.CheckRemote(ssl) is { } problem) throw new IOException(problem);
                }
                var head = new byte[Magic.Length + 2];
                await stream.ReadExactlyAsync(head, cts.Token).ConfigureAwait(false);
                var length = (head[Magic.Length] << 8) | head[Magic.Length + 1];
                var probe = head.AsSpan(0, Magic.Length).SequenceEqual(ProbeMagic);
                if (!(probe || head.AsSpan(0, Magic.Length).SequenceEqual(Magic)) || length > 4096) throw new IOException("bad peer hello");
                var presented = new byte[length];
                await stream.ReadExactlyAsync(presented, cts.Token).ConfigureAwait(false);
                if (!CryptographicOperations.FixedTimeEquals(presented, expected)) throw new IOException("wrong peer token");
                if (probe)
                {
                    await stream.WriteAsync(new byte[] { 1, (byte)(standby ? 1 : 0) }, cts.Token).ConfigureAwait(false);
                    await stream.FlushAsync(cts.Token).ConfigureAwait(false);
                    throw new IOException("probe answered"); // closes it below; probes never reach Raft
                }
                await stream.WriteAsync(new byte[] { 1 }, cts.Token).ConfigureAwait(false);
                await stream.FlushAsync(cts.Token).ConfigureAwait(false);
                await accepted.Writer.WriteAsync(new PeerConnection(s, stream), stop.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                s.Dispose();
            }
        }

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                return await accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                return null;
            }
        }

        public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            await stop.CancelAsync().ConfigureAwait(false);
            socket.Dispose();
            await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        public async ValueTask DisposeAsync()
        {
            await UnbindAsync().ConfigureAwait(false);
            while (accepted.Reader.TryRead(out var c)) await c.DisposeAsync().ConfigureAwait(false);
            stop.Dispose();
        }
    }

    /// <summary>An authenticated peer connection as DotNext's generic transport expects it.</summary>
    private sealed class PeerConnection : ConnectionContext
    {
        private readonly Socket socket;
        private readonly Stream stream;
        private readonly CancellationTokenSource closed = new();
        private int disposed;

        /// <summary>Takes <paramref name="socket"/> and <paramref name="stream"/> (plain or TLS over it) over.</summary>
        public PeerConnection(Socket socket, Stream stream)
        {
            this.socket = socket;
            this.stream = stream;
            Transport = new Pipe(PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 1 << 16)),
                PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 1 << 16)));
            RemoteEndPoint = socket.RemoteEndPoint;
            LocalEndPoint = socket.LocalEndPoint;
            ConnectionClosed = closed.Token;
        }

        /// <summary>The flags a probe was answered with; null for a Raft connection.</summary>
        public byte? Flags { get; init; }

        public override string ConnectionId { get; set; } = Guid.NewGuid().ToString("N");

        public override IFeatureCollection Features { get; } = new FeatureCollection();

        public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

        public override IDuplexPipe Transport { get; set; }

        public override void Abort(ConnectionAbortedException abortReason)
        {
            try
            {
                closed.Cancel();
                socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
        }

        public override async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref disposed, 1) != 0) return;
            try
            {
                await closed.CancelAsync().ConfigureAwait(false);
                await Transport.Input.CompleteAsync().ConfigureAwait(false);
                await Transport.Output.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
            }
            await stream.DisposeAsync().ConfigureAwait(false);
            socket.Dispose();
            closed.Dispose();
        }

        private sealed class Pipe(PipeReader input, PipeWriter output) : IDuplexPipe
        {
            public PipeReader Input { get; } = input;

            public PipeWriter Output { get; } = output;
        }
    }
}
