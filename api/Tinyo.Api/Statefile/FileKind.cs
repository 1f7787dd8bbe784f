namespace Tinyo.Api.Statefile;

/// <summary>What a path names, examined without opening it (opening a FIFO blocks until a writer comes).</summary>
public enum FileKind
{
    /// <summary>Nothing there.</summary>
    Missing,

    /// <summary>A regular file.</summary>
    Regular,

    /// <summary>A directory.</summary>
    Directory,

    /// <summary>A FIFO, device or socket.</summary>
    Special,
}

/// <summary>Finds a path's <see cref="FileKind"/>.</summary>
public static class FileKinds
{
    /// <summary>The kind of <paramref name="path"/>, symlinks followed.</summary>
    public static FileKind Of(string path)
    {
        var type = Tinyo.Linux.Libc.FileType(path, out var errno);
        return type switch
        {
            -1 when errno is 2 or 20 => FileKind.Missing, // ENOENT, ENOTDIR
            -1 => throw new IOException($"{path}: {Tinyo.Linux.Libc.Describe(errno)}"),
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            _ => FileKind.Special,
        };
    }
}
