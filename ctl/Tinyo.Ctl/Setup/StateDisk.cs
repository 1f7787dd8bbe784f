using System.Globalization;

namespace Tinyo.Ctl.Setup;

/// <summary>
/// Whether the disk under the node's state directory is full, from <c>statvfs(2)</c>: the first thing
/// <c>tio ++</c> says when a daemon does not start. On a full disk a daemon cannot write its log, so the log's tail
/// is an old one that explains nothing (issue 10, item 7).
/// </summary>
public static class StateDisk
{
    /// <summary>Below this many free bytes the disk counts as full: tinyokv refuses writes below 8 MiB.</summary>
    public const long FullBelow = 8L << 20;

    /// <summary>
    /// "disk full: …" naming the directory, what is free and what to do, when the filesystem of
    /// <paramref name="dir"/> (or its nearest existing parent) has less than <see cref="FullBelow"/> bytes or no inode
    /// free; null otherwise, or when it cannot be told.
    /// </summary>
    public static string? Problem(string dir)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var probe = Path.GetFullPath(dir);
        while (!Directory.Exists(probe) && Path.GetDirectoryName(probe) is { } parent) probe = parent;
        if (Tinyo.Linux.Libc.Statvfs(probe, out var st) != 0) return null;
        var free = st.Bavail * st.Frsize;
        var total = st.Blocks * st.Frsize;
        if (free < FullBelow)
            return string.Create(CultureInfo.InvariantCulture,
                $"disk full: {dir} has {Mib(free)} MiB free of {Mib(total)} MiB (the daemons need at least {Mib(FullBelow)} MiB to write their data and logs); free space there and run tio ++ again");
        if (st.Files > 0 && st.Favail == 0)
            return $"disk full: {dir} has no free inodes left; remove files there and run tio ++ again";
        return null;
    }

    private static string Mib(ulong bytes) => (bytes / 1048576.0).ToString("0.#", CultureInfo.InvariantCulture);

    private static string Mib(long bytes) => Mib((ulong)bytes);
}
