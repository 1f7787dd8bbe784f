using System.Runtime.InteropServices;

namespace Tinyo.Linux;

// flock(2) for the image store's cross-process locks, and fsync of directories so a rename into the store is durable.
internal static unsafe partial class Libc
{
    public const int O_RDONLY = 0x0;
    public const int O_RDWR = 0x2;
    public const int O_CREAT = 0x40;
    public const int O_DIRECTORY = 0x10000;
    public const int O_CLOEXEC = 0x80000;

    public const int LOCK_SH = 1;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int LOCK_UN = 8;

    public const int EINTR = 4;
    public const int EWOULDBLOCK = 11;

    /// <summary>open(2) (<see cref="SysOpen"/>).</summary>
    public static int Open(string path, int flags, uint mode = 0) => SysOpen(path, flags, mode);

    /// <summary>close(2) (<see cref="SysClose"/>).</summary>
    public static int Close(int fd) => SysClose(fd);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int Fsync(int fd);

    /// <summary>fsync(2) a directory, making renames and creations in it durable. Best effort.</summary>
    public static void FsyncDirectory(string path)
    {
        var fd = Open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0) return;
        Fsync(fd);
        Close(fd);
    }
}
