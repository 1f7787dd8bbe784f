using System.Buffers;
using System.Net.Sockets;
using Tinyo.Linux;

namespace Tinyo.Node.Ports;

/// <summary>How <see cref="ByteRelay"/> moves bytes between the two sockets of a proxied connection.</summary>
/// <remarks>Measured (node/README.md, "Ports"): Copy moved bytes faster than Splice in 11 of 12 paired runs here, so
/// it is the default; splice's extra readiness wait and two syscalls per chunk cost more than the loopback copy saves.</remarks>
public enum RelayMode
{
    /// <summary>recv into a pooled 64 KiB buffer, then send (the default).</summary>
    Copy,
    /// <summary>splice(2) socket → pipe → socket: the bytes never enter user space.</summary>
    Splice,
}

/// <summary>
/// Moves bytes both ways between two connected TCP sockets until both directions end. End of stream on one side is
/// passed on as a half-close (<c>shutdown(SHUT_WR)</c>) of the other, so request/response protocols that close
/// their sending side first keep working; an error in either direction closes both sockets at once.
/// </summary>
internal static class ByteRelay
{
    private const int Chunk = 64 * 1024;

    /// <summary>Relays until both directions are done or one fails; always disposes both sockets.</summary>
    public static async Task RunAsync(Socket a, Socket b, RelayMode mode)
    {
        try
        {
            var ab = PumpAsync(a, b, mode);
            var ba = PumpAsync(b, a, mode);
            // The first failure closes both sockets, which ends the other direction promptly too.
            var first = await Task.WhenAny(ab, ba).ConfigureAwait(false);
            if (!await first.ConfigureAwait(false)) Abort(a, b);
            var second = first == ab ? ba : ab;
            await second.ConfigureAwait(false);
        }
        finally
        {
            a.Dispose();
            b.Dispose();
        }
    }

    private static void Abort(Socket a, Socket b)
    {
        // RST rather than FIN: the peer must not take a broken relay for a clean end of stream.
        foreach (var s in (ReadOnlySpan<Socket>)[a, b])
        {
            try { s.LingerState = new LingerOption(true, 0); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            s.Dispose();
        }
    }

    /// <summary>One direction; true when it ended with a clean end of stream, false on an error.</summary>
    private static async Task<bool> PumpAsync(Socket from, Socket to, RelayMode mode)
    {
        try
        {
            if (mode == RelayMode.Splice) await SpliceAsync(from, to).ConfigureAwait(false);
            else await CopyAsync(from, to).ConfigureAwait(false);
            try { to.Shutdown(SocketShutdown.Send); } catch (SocketException) { }
            return true;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private static async Task CopyAsync(Socket from, Socket to)
    {
        var buf = ArrayPool<byte>.Shared.Rent(Chunk);
        try
        {
            while (true)
            {
                int n = await from.ReceiveAsync(buf.AsMemory(), SocketFlags.None).ConfigureAwait(false);
                if (n == 0) return;
                await SendAllAsync(to, buf.AsMemory(0, n)).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    private static async ValueTask SendAllAsync(Socket to, ReadOnlyMemory<byte> data)
    {
        while (data.Length > 0)
        {
            int m = await to.SendAsync(data, SocketFlags.None).ConfigureAwait(false);
            data = data[m..];
        }
    }

    /// <summary>
    /// socket → pipe → socket with splice(2). A zero-byte receive waits for the source to be readable without taking
    /// a buffer (the .NET socket engine's epoll does the waiting); then splice moves what is there into the pipe and
    /// from the pipe into the destination. When the destination is full (EAGAIN) the rest of the pipe is read into a
    /// pooled buffer and sent with an ordinary async send, which waits for room: slow consumers cost a copy, never a
    /// blocked thread.
    /// </summary>
    private static async Task SpliceAsync(Socket from, Socket to)
    {
        int[] p = MakePipe();
        byte[]? buf = null;
        try
        {
            // Both sockets are switched to non-blocking mode by the socket engine for async operations; splice with
            // SPLICE_F_NONBLOCK additionally never waits on the pipe.
            from.Blocking = false;
            to.Blocking = false;
            int src = (int)from.SafeHandle.DangerousGetHandle(), dst = (int)to.SafeHandle.DangerousGetHandle();
            while (true)
            {
                // Waits until readable (or end of stream) without consuming anything; an idle connection costs no CPU
                // (checked: no loop iterations while idle).
                await from.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                long n = Libc.Splice(src, 0, p[1], 0, Chunk, Libc.SPLICE_F_MOVE | Libc.SPLICE_F_NONBLOCK);
                if (n == 0) return; // end of stream
                if (n < 0)
                {
                    int err = Libc.Errno;
                    if (err is Libc.Errno_.EAGAIN or Libc.EINTR) continue;
                    throw new SocketException(err);
                }
                while (n > 0)
                {
                    long m = Libc.Splice(p[0], 0, dst, 0, (nuint)n, Libc.SPLICE_F_MOVE | Libc.SPLICE_F_NONBLOCK);
                    if (m > 0)
                    {
                        n -= m;
                        continue;
                    }
                    if (m == 0) throw new IOException("splice into the socket moved nothing");
                    int err = Libc.Errno;
                    if (err == Libc.EINTR) continue;
                    if (err != Libc.Errno_.EAGAIN) throw new SocketException(err);
                    buf ??= ArrayPool<byte>.Shared.Rent(Chunk);
                    int r = ReadPipe(p[0], buf, (int)Math.Min(n, buf.Length));
                    await SendAllAsync(to, buf.AsMemory(0, r)).ConfigureAwait(false);
                    n -= r;
                }
            }
        }
        finally
        {
            Libc.Close(p[0]);
            Libc.Close(p[1]);
            if (buf is not null) ArrayPool<byte>.Shared.Return(buf);
        }
    }

    private static unsafe int[] MakePipe()
    {
        int* fds = stackalloc int[2];
        if (Libc.SysPipe2(fds, Libc.O_CLOEXEC | Libc.O_NONBLOCK) != 0) throw new SocketException(Libc.Errno);
        // A pipe holds 64 KiB by default (16 pages) — the chunk size; F_SETPIPE_SZ only if that ever changes.
        return [fds[0], fds[1]];
    }

    private static unsafe int ReadPipe(int fd, byte[] buf, int count)
    {
        fixed (byte* b = buf)
        {
            while (true)
            {
                long r = Libc.Read(fd, b, (nuint)count);
                if (r > 0) return (int)r;
                if (r < 0 && Libc.Errno == Libc.EINTR) continue;
                throw new IOException($"reading the relay pipe: errno {Libc.Errno}");
            }
        }
    }
}
