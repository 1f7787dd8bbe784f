using System.Runtime.InteropServices;
using Tinyo.Linux;

namespace Tinyo.Kv.Raft;

/// <summary>Making renames durable: a file renamed into a directory survives a crash once the directory is fsynced.</summary>
internal static class DirectorySync
{
    /// <summary>fsyncs a directory so that a file renamed into it survives a crash.</summary>
    public static void Fsync(string path)
    {
        var fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
        if (fd < 0) throw new KvException($"open {path}: {Marshal.GetLastPInvokeErrorMessage()}");
        try
        {
            if (Libc.Fsync(fd) < 0) throw new KvException($"fsync {path}: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        finally
        {
            Libc.Close(fd);
        }
    }
}
