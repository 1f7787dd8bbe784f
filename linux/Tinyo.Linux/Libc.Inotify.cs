using System.Runtime.InteropServices;

namespace Tinyo.Linux;

internal static partial class Libc
{
    /// <summary>gettid(2): the calling thread's id (for per-thread calls such as setpriority).</summary>
    [LibraryImport("libc", EntryPoint = "gettid")]
    public static partial int Gettid();

    /// <summary>setpriority(2); with PRIO_PROCESS and a thread id it sets one thread's nice value.</summary>
    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    public static partial int Setpriority(int which, int who, int prio);

    /// <summary>inotify_init1(2).</summary>
    [LibraryImport("libc", EntryPoint = "inotify_init1", SetLastError = true)]
    public static partial int InotifyInit1(int flags);

    /// <summary>inotify_add_watch(2).</summary>
    [LibraryImport("libc", EntryPoint = "inotify_add_watch", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int InotifyAddWatch(int fd, string path, uint mask);
}
