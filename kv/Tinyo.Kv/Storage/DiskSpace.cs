
namespace Tinyo.Kv.Storage;

/// <summary>
/// The free space of the filesystem that holds a member's data directory, read with <c>statvfs(2)</c> on every
/// write (a syscall of about a microsecond: no cache that a burst of writes could outrun).
/// </summary>
/// <remarks>
/// A member must never append to its WAL on a full disk: DotNext's chunks are files that are extended and written
/// by page, and a page the filesystem cannot back kills the process (SIGBUS with memory-mapped pages, or a failed
/// flush that leaves the log unusable). So writes are refused while less than <see cref="Reserve"/> (plus the
/// write itself) is free, with <see cref="Protocol.ErrorCode.NoSpace"/> and a message that names the cause; reads go
/// on; and writes that free space in the store (delete, compact, lease revoke) are still taken until half the
/// reserve is left, so an operator can make room. Once space is freed on the disk, writes resume by themselves.
/// </remarks>
public sealed class DiskSpace(string directory, long reserve)
{
    /// <summary>The directory whose filesystem is watched.</summary>
    public string Directory { get; } = directory;

    /// <summary>Bytes kept free for the WAL, snapshots and the member's own bookkeeping.</summary>
    public long Reserve { get; } = reserve;

    /// <summary>Bytes an unprivileged writer may still use on the filesystem (f_bavail × f_frsize); null when unknown.</summary>
    public long? Free()
    {
        if (!OperatingSystem.IsLinux()) return null;
        if (Tinyo.Linux.Libc.Statvfs(Directory, out var st) != 0) return null; // a missing directory is reported by the WAL itself
        return (long)Math.Min(st.Bavail * st.Frsize, long.MaxValue);
    }

    /// <summary>
    /// Throws <see cref="Protocol.KvServerException"/> (<see cref="Protocol.ErrorCode.NoSpace"/>) when a write of
    /// <paramref name="bytes"/> would eat into the reserve; <paramref name="freesSpace"/> writes may use half of it.
    /// </summary>
    public void EnsureRoom(long bytes, bool freesSpace)
    {
        if (Free() is not { } free) return;
        var keep = freesSpace ? Reserve / 2 : Reserve;
        if (free - bytes >= keep) return;
        throw new Protocol.KvServerException(Protocol.ErrorCode.NoSpace,
            $"kv: no space left on device: {Directory} has {Mib(free)} MiB free and tinyokv keeps {Mib(keep)} MiB for its log; " +
            "free space on that disk and writes resume by themselves (reads still work)");
    }

    private static string Mib(long bytes) => (bytes / 1048576.0).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);
}
