using System.Runtime.InteropServices;

namespace Tinyo.Node.Linux;

// Pipes for an exec'd command's output: poll(2) with a timeout, so a reader thread can give up on a pipe that a
// background process of the command keeps open.
internal static partial class Libc
{
    /// <summary>A pipe with both ends close-on-exec: (read end, write end).</summary>
    internal static unsafe (int Read, int Write) Pipe()
    {
        int* fds = stackalloc int[2];
        if (Pipe2(fds, O_CLOEXEC) != 0) throw new IOException($"pipe2: errno {Errno}");
        return (fds[0], fds[1]);
    }
}
