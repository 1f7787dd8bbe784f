using System.Runtime.InteropServices;

namespace Tinyo.Linux;

internal static unsafe partial class Libc
{
    /// <summary>execve of an open file (execveat(fd, "", AT_EMPTY_PATH)): works with O_PATH fds of sealed copies.</summary>
    [LibraryImport("libc", EntryPoint = "fexecve", SetLastError = true)]
    public static partial int Fexecve(int fd, byte** argv, byte** envp);
}
