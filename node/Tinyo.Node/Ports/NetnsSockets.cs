using System.Collections.Concurrent;
using System.Net.Sockets;
using Tinyo.Linux;

namespace Tinyo.Node.Ports;

/// <summary>
/// Creates TCP and UDP sockets inside the network namespace of another process (a container's), from the host.
/// </summary>
/// <remarks>
/// The network namespace is a property of the thread, and a socket belongs to the namespace its creating thread was
/// in — for its whole life, whatever thread uses it later. So only <c>socket()</c> has to run inside the container's
/// namespace. One dedicated, long-lived thread does exactly that for every request: <c>setns(pidfd, CLONE_NEWNET)</c>
/// → <c>socket()</c> → <c>setns(host, CLONE_NEWNET)</c> with the host namespace's descriptor opened when the thread
/// started. It runs nothing else, so no .NET thread-pool thread (nor any other thread of the node) is ever inside a
/// container's namespace; should returning to the host namespace fail, the process stops (<c>FailFast</c>) rather
/// than go on with a thread in the wrong place. connect() and all I/O happen afterwards on ordinary threads. One
/// thread instead of one per namespace: setns is a few microseconds, containers come and go, and a per-namespace
/// thread would need its own lifetime tracking. The pid is opened as a pidfd, so a pid reused between the caller's
/// look-up and setns cannot put the socket in a stranger's namespace (setns then fails with ESRCH).
/// </remarks>
internal static class NetnsSockets
{
    private sealed record Request(int Pid, AddressFamily Family, SocketType Type, ProtocolType Protocol, TaskCompletionSource<Socket> Done);

    private static readonly BlockingCollection<Request> Queue = new();
    private static readonly Lazy<Thread> Worker = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>A new, unconnected TCP socket in the network namespace of <paramref name="pid"/>.</summary>
    /// <exception cref="IOException">The process is gone or its namespace cannot be entered.</exception>
    public static Task<Socket> CreateTcpAsync(int pid, AddressFamily family = AddressFamily.InterNetwork)
        => CreateAsync(pid, family, SocketType.Stream, ProtocolType.Tcp);

    /// <summary>A new UDP socket in the network namespace of <paramref name="pid"/>.</summary>
    public static Task<Socket> CreateUdpAsync(int pid, AddressFamily family = AddressFamily.InterNetwork)
        => CreateAsync(pid, family, SocketType.Dgram, ProtocolType.Udp);

    private static Task<Socket> CreateAsync(int pid, AddressFamily family, SocketType type, ProtocolType protocol)
    {
        _ = Worker.Value;
        var r = new Request(pid, family, type, protocol, new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously));
        Queue.Add(r);
        return r.Done.Task;
    }

    private static Thread Start()
    {
        var t = new Thread(Run, 256 * 1024) { IsBackground = true, Name = "tinyo netns sockets" };
        t.Start();
        return t;
    }

    private static void Run()
    {
        // This thread was just created, so it is in the namespace of the process: remember it.
        int host = Libc.Open("/proc/thread-self/ns/net", Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (host < 0) Environment.FailFast($"tinyonode: cannot open our own network namespace (errno {Libc.Errno})");
        foreach (var r in Queue.GetConsumingEnumerable())
        {
            int pidfd = Libc.PidfdOpen(r.Pid);
            if (pidfd < 0)
            {
                r.Done.SetException(new IOException($"process {r.Pid} is gone (errno {Libc.Errno})"));
                continue;
            }
            try
            {
                if (Libc.Setns(pidfd, Libc.CLONE_NEWNET) != 0)
                {
                    r.Done.SetException(new IOException($"cannot enter the network namespace of process {r.Pid} (errno {Libc.Errno})"));
                    continue;
                }
                Socket? s = null;
                Exception? error = null;
                try
                {
                    s = new Socket(r.Family, r.Type, r.Protocol);
                }
                catch (SocketException e)
                {
                    error = e;
                }
                finally
                {
                    if (Libc.Setns(host, Libc.CLONE_NEWNET) != 0)
                        Environment.FailFast($"tinyonode: cannot return to the host network namespace (errno {Libc.Errno})");
                }
                if (s is not null) r.Done.SetResult(s);
                else r.Done.SetException(new IOException($"socket in the namespace of process {r.Pid}: {error!.Message}", error));
            }
            finally
            {
                Libc.Close(pidfd);
            }
        }
    }
}
