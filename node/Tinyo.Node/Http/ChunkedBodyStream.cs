using System.Globalization;
using System.Text;

namespace Tinyo.Node.Http;

/// <summary>
/// A write-only stream that frames what is written as HTTP/1.1 chunks (<c>Transfer-Encoding: chunked</c>): each
/// write is one chunk, sent at once — a streamed answer (logs, exec output) reaches the client as it is produced.
/// <see cref="CompleteAsync"/> writes the last chunk; a body without it tells the client the answer broke off.
/// </summary>
internal sealed class ChunkedBodyStream(Stream inner) : Stream
{
    private readonly SemaphoreSlim writing = new(1, 1);
    private bool completed;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.Length == 0) return; // an empty chunk would end the body
        await writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(completed, this);
            // Head, data and trailer in one write: one syscall, one TCP segment for small chunks.
            var head = buffer.Length.ToString("x", CultureInfo.InvariantCulture) + "\r\n";
            var frame = new byte[head.Length + buffer.Length + 2];
            Encoding.ASCII.GetBytes(head, frame);
            buffer.Span.CopyTo(frame.AsSpan(head.Length));
            frame[^2] = (byte)'\r';
            frame[^1] = (byte)'\n';
            await inner.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            writing.Release();
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Writes the terminating zero-length chunk.</summary>
    public async Task CompleteAsync(CancellationToken ct)
    {
        await writing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (completed) return;
            completed = true;
            await inner.WriteAsync("0\r\n\r\n"u8.ToArray(), ct).ConfigureAwait(false);
        }
        finally
        {
            writing.Release();
        }
    }

    public override void Flush() { }
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
