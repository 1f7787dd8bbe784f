using Tinyo.Linux;

namespace Tinyo.Rt.Images;

/// <summary>
/// A cross-process lock: flock(2) on a file under the root's <c>locks/</c>. Released on dispose, and by the kernel
/// when the process dies (so a killed pull never leaves a lock behind). Waiting polls with LOCK_NB so it is
/// cancellable and blocks no thread-pool thread.
/// </summary>
public sealed class FileLock : IDisposable
{
    private int _fd;

    private FileLock(int fd) => _fd = fd;

    /// <summary>Takes the lock on <paramref name="path"/> (created if missing), shared or exclusive.</summary>
    public static async Task<FileLock> AcquireAsync(string path, bool exclusive, CancellationToken ct = default)
    {
        var fd = Libc.Open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, 0x1a4 /* 0644 */);
        if (fd < 0) throw Libc.Error("cannot open lock file", path);
        try
        {
            var op = (exclusive ? Libc.LOCK_EX : Libc.LOCK_SH) | Libc.LOCK_NB;
            var delay = 5;
            while (true)
            {
                if (Libc.Flock(fd, op) == 0) return new FileLock(fd);
                var errno = Libc.Errno;
                if (errno != Libc.EWOULDBLOCK && errno != Libc.EINTR) throw Libc.Error("cannot lock", path, errno);
                await Task.Delay(delay, ct).ConfigureAwait(false);
                delay = Math.Min(delay * 2, 100);
            }
        }
        catch
        {
            Libc.Close(fd);
            throw;
        }
    }

    /// <summary>Tries to take the lock without waiting; null when another holder has it.</summary>
    public static FileLock? TryAcquire(string path, bool exclusive)
    {
        var fd = Libc.Open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC, 0x1a4);
        if (fd < 0) throw Libc.Error("cannot open lock file", path);
        if (Libc.Flock(fd, (exclusive ? Libc.LOCK_EX : Libc.LOCK_SH) | Libc.LOCK_NB) == 0) return new FileLock(fd);
        Libc.Close(fd);
        return null;
    }

    /// <summary>Releases the lock.</summary>
    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) Libc.Close(fd);
    }
}
