using System.Collections.Concurrent;
using Tinyo.Linux;

namespace Tinyo.Rt.Network;

/// <summary>
/// The one thread of the process that ever leaves the process's network namespace. Network namespaces are per
/// thread, and a socket (netlink, UDP, TCP) belongs for its whole life to the namespace its creating thread was in;
/// so making a socket inside another namespace, or a new namespace, only needs a thread that
/// <c>setns()</c>es (or <c>unshare()</c>s) there, creates what it needs, and <c>setns()</c>es back — the socket is then
/// used from any thread. This thread does exactly that and nothing else, so no thread-pool thread ever runs inside a
/// replica's namespace. Should the way back fail, the process stops (<see cref="Environment.FailFast(string)"/>)
/// rather than go on with a thread in the wrong place.
/// </summary>
/// <remarks>
/// Verified by <c>NetnsThreadTests</c>: a socket made here inside namespace X lists X's links, while the calling
/// thread (and this thread, afterwards) still sees the host's.
/// </remarks>
public static class NetnsThread
{
    private sealed class Work(Action body)
    {
        public Action Body { get; } = body;
        public Exception? Error;
        public readonly ManualResetEventSlim Done = new();
    }

    private static readonly BlockingCollection<Work> Queue = new();
    private static readonly Lazy<Thread> Worker = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);
    private static int hostFd = -1;

    /// <summary>Runs <paramref name="body"/> on the namespace thread inside the network namespace
    /// <paramref name="netnsFd"/> and returns to the process's namespace afterwards.</summary>
    public static T RunIn<T>(int netnsFd, Func<T> body)
    {
        T result = default!;
        Post(() =>
        {
            if (Libc.Setns(netnsFd, Libc.CLONE_NEWNET) != 0) throw Libc.Error("entering a network namespace (setns)");
            try
            {
                result = body();
            }
            finally
            {
                Back();
            }
        });
        return result;
    }

    /// <summary>Runs <paramref name="body"/> on the namespace thread inside a brand-new network namespace
    /// (<c>unshare(CLONE_NEWNET)</c>), then returns to the process's namespace. The new namespace lives on only if
    /// <paramref name="body"/> pins it (a bind mount of <c>/proc/thread-self/ns/net</c>, an open fd, a socket).</summary>
    public static T RunInNew<T>(Func<T> body)
    {
        T result = default!;
        Post(() =>
        {
            if (Libc.Unshare(Libc.CLONE_NEWNET) != 0) throw Libc.Error("creating a network namespace (unshare)");
            try
            {
                result = body();
            }
            finally
            {
                Back();
            }
        });
        return result;
    }

    private static void Back()
    {
        if (Libc.Setns(hostFd, Libc.CLONE_NEWNET) != 0)
            Environment.FailFast($"tinyo: cannot return to the process's network namespace (errno {Libc.Errno})");
    }

    private static void Post(Action body)
    {
        _ = Worker.Value;
        var w = new Work(body);
        Queue.Add(w);
        w.Done.Wait();
        w.Done.Dispose();
        if (w.Error is { } e) throw e is RtException ? e : new RtException(e.Message, e);
    }

    private static Thread Start()
    {
        // A new thread starts in the namespace of the process (threads are created by clone(CLONE_THREAD), sharing
        // the creating thread's nsproxy: the Lazy runs on a caller thread, and no thread of ours ever stays elsewhere).
        var t = new Thread(Run, 256 * 1024) { IsBackground = true, Name = "tinyo netns" };
        t.Start();
        return t;
    }

    private static void Run()
    {
        hostFd = Libc.SysOpen("/proc/thread-self/ns/net", Libc.OFlag.RdOnly | Libc.OFlag.Cloexec, 0);
        if (hostFd < 0) Environment.FailFast($"tinyo: cannot open our own network namespace (errno {Libc.Errno})");
        foreach (var w in Queue.GetConsumingEnumerable())
        {
            try
            {
                w.Body();
            }
            catch (Exception e)
            {
                w.Error = e;
            }
            w.Done.Set();
        }
    }
}
