using System.Runtime.InteropServices;

namespace Tinyo.Kv.Linux;

/// <summary>The KV's only libc interop: making renames durable.</summary>
internal static partial class Libc
{
    private const int ORdOnly = 0, ODirectory = 0x10000, OCloexec = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    /// <summary>fsyncs a directory so that a file renamed into it survives a crash.</summary>
    public static void FsyncDirectory(string path)
    {
        var fd = Open(path, ORdOnly | ODirectory | OCloexec);
        if (fd < 0) throw new KvException($"open {path}: {Marshal.GetLastPInvokeErrorMessage()}");
        try
        {
            if (Fsync(fd) < 0) throw new KvException($"fsync {path}: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        finally
        {
            Close(fd);
        }
    }
}
