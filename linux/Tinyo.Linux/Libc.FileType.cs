using System.Text;

namespace Tinyo.Linux;

internal static unsafe partial class Libc
{
    /// <summary>
    /// The file type bits (S_IFMT) of <paramref name="path"/>, symlinks followed, or -1 with the errno when it cannot
    /// be examined. For a CLI reading a file a user names: a FIFO or device must be refused before it is opened
    /// (opening a FIFO blocks until a writer comes).
    /// </summary>
    public static int FileType(string path, out int errno)
    {
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        if (StatxAt(FileSys.AT_FDCWD, bytes, 0, out var st) != 0)
        {
            errno = Errno;
            return -1;
        }
        errno = 0;
        return st.Mode & 0xF000;
    }
}
