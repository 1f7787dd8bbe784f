using System.Buffers.Binary;
using System.Threading.Channels;
using Tinyo.Linux;
using Tinyo.Rt;
using Tinyo.Rt.Containers;

namespace Tinyo.Node.Api;

/// <summary>
/// One non-interactive command run in a container for <c>POST /v1/apps/NAME/exec</c>: stdin is /dev/null, stdout
/// and stderr are pipes read by two dedicated threads, and the answer is a stream of frames:
/// <c>[kind:1][length:4, big-endian][payload]</c> with kind 1 = stdout, 2 = stderr, 3 = exit (payload: the exit
/// code, 4 bytes big-endian; 128 + signal when killed). The exit frame is always last.
/// </summary>
internal sealed class ExecSession
{
    /// <summary>Frame kinds.</summary>
    public const byte Stdout = 1, Stderr = 2, Exit = 3;

    private const int SIGKILL = 9;
    private readonly int pid;
    private readonly int outFd, errFd;
    private volatile bool exited, abandon;

    private ExecSession(int pid, int outFd, int errFd)
    {
        this.pid = pid;
        this.outFd = outFd;
        this.errFd = errFd;
    }

    /// <summary>Starts <paramref name="command"/> in container <paramref name="id"/> (errors — not running, no such
    /// executable — are thrown here, before any answer is sent).</summary>
    public static ExecSession Start(RuntimeRoot root, string id, List<string> command, List<string> env)
    {
        var (outR, outW) = Libc.Pipe();
        var (errR, errW) = (-1, -1);
        int devnull = -1;
        bool ok = false;
        try
        {
            (errR, errW) = Libc.Pipe();
            devnull = Libc.Open("/dev/null", Libc.O_RDONLY | Libc.O_CLOEXEC);
            if (devnull < 0) throw new IOException($"/dev/null: errno {Libc.Errno}");
            int pid = Exec.Start(root, id, new ExecOptions { Command = command, Env = env, Stdin = devnull, Stdout = outW, Stderr = errW });
            ok = true;
            return new ExecSession(pid, outR, errR);
        }
        finally
        {
            // The command has its own copies of the write ends: ours must go, or the readers never see end of file.
            foreach (var fd in (ReadOnlySpan<int>)[outW, errW, devnull]) if (fd >= 0) Libc.Close(fd);
            if (!ok)
            {
                Libc.Close(outR);
                if (errR >= 0) Libc.Close(errR);
            }
        }
    }

    /// <summary>
    /// Streams the output frames and finally the exit frame into <paramref name="body"/>. When
    /// <paramref name="ct"/> fires (the client went away), the command is killed; either way it is reaped before
    /// this returns, and both pipes are closed.
    /// </summary>
    public async Task StreamAsync(Stream body, CancellationToken ct)
    {
        // Bounded: a command faster than the client waits for it (its pipe fills) instead of filling our memory.
        var frames = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(64) { SingleReader = true });
        int open = 2;
        void Done()
        {
            if (Interlocked.Decrement(ref open) == 0) frames.Writer.TryComplete();
        }
        var readers = new[] { StartReader(outFd, Stdout, frames.Writer, Done), StartReader(errFd, Stderr, frames.Writer, Done) };
        var wait = Task.Factory.StartNew(() => Exec.Wait(pid), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _ = wait.ContinueWith(_ => exited = true, TaskScheduler.Default);
        try
        {
            await foreach (var f in frames.Reader.ReadAllAsync(ct).ConfigureAwait(false)) await body.WriteAsync(f, ct).ConfigureAwait(false);
            int code = await wait.WaitAsync(ct).ConfigureAwait(false);
            var exit = new byte[9];
            exit[0] = Exit;
            BinaryPrimitives.WriteInt32BigEndian(exit.AsSpan(1), 4);
            BinaryPrimitives.WriteInt32BigEndian(exit.AsSpan(5), code);
            await body.WriteAsync(exit, ct).ConfigureAwait(false);
        }
        finally
        {
            if (!wait.IsCompleted) Exec.Signal(pid, SIGKILL);
            abandon = true;
            frames.Writer.TryComplete();
            while (frames.Reader.TryRead(out _)) { } // unblocks a reader waiting for room
            try { await wait.ConfigureAwait(false); } catch (Exception) { }
            foreach (var t in readers) t.Join();
            Libc.Close(outFd);
            Libc.Close(errFd);
        }
    }

    /// <summary>
    /// Reads one pipe on a dedicated thread (blocking reads must not sit on thread-pool threads). Ends at end of
    /// file; or, once the command has exited, after 200 ms without data — a background process it left behind may
    /// hold the pipe open forever.
    /// </summary>
    private Thread StartReader(int fd, byte kind, ChannelWriter<byte[]> frames, Action done)
    {
        var t = new Thread(() =>
        {
            try { ReadLoop(fd, kind, frames); }
            finally { done(); }
        }, 256 * 1024) { IsBackground = true, Name = "tinyo exec output" };
        t.Start();
        return t;
    }

    private unsafe void ReadLoop(int fd, byte kind, ChannelWriter<byte[]> frames)
    {
        var buf = new byte[32 * 1024];
        var pfd = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
        while (!abandon)
        {
            bool wasExited = exited;
            pfd.Revents = 0;
            int r = Libc.Poll(&pfd, 1, 200);
            if (r < 0 && Libc.Errno == Libc.EINTR) continue;
            if (r < 0) return;
            if (r == 0)
            {
                if (wasExited) return;
                continue;
            }
            long n;
            fixed (byte* b = buf) n = Libc.Read(fd, b, (nuint)buf.Length);
            if (n < 0 && Libc.Errno == Libc.EINTR) continue;
            if (n <= 0) return;
            var frame = new byte[5 + n];
            frame[0] = kind;
            BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), (int)n);
            buf.AsSpan(0, (int)n).CopyTo(frame.AsSpan(5));
            try
            {
                while (!frames.TryWrite(frame))
                {
                    if (abandon || !frames.WaitToWriteAsync().AsTask().GetAwaiter().GetResult()) return;
                }
            }
            catch (ChannelClosedException)
            {
                return;
            }
        }
    }
}
