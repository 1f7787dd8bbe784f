using System.Globalization;
using System.Text;

namespace Tinyo.Ctl.Client;

/// <summary>
/// Reads a streamed HTTP/1.1 answer from the node incrementally: the head, then the body as it arrives — chunked
/// (<c>Transfer-Encoding: chunked</c>), by Content-Length, or until the connection closes.
/// </summary>
internal sealed class ResponseReader(Stream stream)
{
    private const int MaxHead = 16 * 1024;
    private readonly byte[] buf = new byte[64 * 1024];
    private int start, end;

    /// <summary>Status code of the answer.</summary>
    public int Status { get; private set; }

    /// <summary>Header names (lower case) and values.</summary>
    public Dictionary<string, string> Headers { get; } = new(StringComparer.Ordinal);

    private async Task<bool> FillAsync(CancellationToken ct)
    {
        if (start > 0 && start == end) start = end = 0;
        if (end == buf.Length)
        {
            Buffer.BlockCopy(buf, start, buf, 0, end - start);
            end -= start;
            start = 0;
        }
        int n = await stream.ReadAsync(buf.AsMemory(end), ct).ConfigureAwait(false);
        end += n;
        return n > 0;
    }

    private async Task<string> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            int i = buf.AsSpan(start, end - start).IndexOf("\r\n"u8);
            if (i >= 0)
            {
                var line = Encoding.ASCII.GetString(buf, start, i);
                start += i + 2;
                return line;
            }
            if (end - start >= MaxHead) throw new CtlException("malformed answer from the node: line too long");
            if (!await FillAsync(ct).ConfigureAwait(false)) throw new IOException("the node closed the connection mid-answer");
        }
    }

    /// <summary>Reads the status line and headers.</summary>
    public async Task ReadHeadAsync(CancellationToken ct)
    {
        var status = await ReadLineAsync(ct).ConfigureAwait(false);
        if (!status.StartsWith("HTTP/1.", StringComparison.Ordinal) || status.Length < 12 ||
            !int.TryParse(status.AsSpan(9, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var code))
            throw new CtlException("malformed answer from the node");
        Status = code;
        for (int count = 0; ; count++)
        {
            var line = await ReadLineAsync(ct).ConfigureAwait(false);
            if (line.Length == 0) return;
            if (count > 100) throw new CtlException("malformed answer from the node: too many headers");
            int colon = line.IndexOf(':');
            if (colon > 0) Headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
        }
    }

    /// <summary>Calls <paramref name="onData"/> with each piece of the body as it arrives; throws when a chunked body breaks off.</summary>
    public async Task ReadBodyAsync(Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onData, CancellationToken ct)
    {
        if (Headers.TryGetValue("transfer-encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            while (true)
            {
                var line = await ReadLineAsync(ct).ConfigureAwait(false);
                var sizeText = line.Split(';')[0].Trim();
                if (!long.TryParse(sizeText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size) || size < 0)
                    throw new CtlException("malformed chunk from the node");
                if (size == 0)
                {
                    while ((await ReadLineAsync(ct).ConfigureAwait(false)).Length > 0) { } // trailers
                    return;
                }
                await CopyAsync(size, onData, ct).ConfigureAwait(false);
                if ((await ReadLineAsync(ct).ConfigureAwait(false)).Length != 0) throw new CtlException("malformed chunk from the node");
            }
        }
        long remaining = Headers.TryGetValue("content-length", out var cl) && long.TryParse(cl, out var len) ? len : long.MaxValue;
        await CopyAsync(remaining, onData, ct, untilClose: remaining == long.MaxValue).ConfigureAwait(false);
    }

    private async Task CopyAsync(long count, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onData, CancellationToken ct, bool untilClose = false)
    {
        while (count > 0)
        {
            if (start == end && !await FillAsync(ct).ConfigureAwait(false))
            {
                if (untilClose) return;
                throw new IOException("the node closed the connection mid-answer");
            }
            int n = (int)Math.Min(count, end - start);
            await onData(buf.AsMemory(start, n), ct).ConfigureAwait(false);
            start += n;
            count -= n;
        }
    }

    /// <summary>The whole body (for error answers).</summary>
    public async Task<byte[]> ReadAllAsync(int max, CancellationToken ct)
    {
        var ms = new MemoryStream();
        await ReadBodyAsync((d, _) =>
        {
            if (ms.Length + d.Length > max) throw new CtlException("answer from the node too large");
            ms.Write(d.Span);
            return ValueTask.CompletedTask;
        }, ct).ConfigureAwait(false);
        return ms.ToArray();
    }
}
