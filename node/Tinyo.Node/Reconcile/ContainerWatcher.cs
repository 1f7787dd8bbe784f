using static Tinyo.Linux.Libc;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// Learns when container processes end, without polling and without waitpid(-1): one thread poll(2)s a pidfd per
/// watched process plus an eventfd that wakes it when the set changes. A pidfd works for any process — our own
/// children (containers this node started) and re-adopted ones whose parent was a previous, killed tinyonode — and
/// does not reap: the exit status of a child is collected afterwards by the runtime
/// (<see cref="Rt.Containers.ContainerRuntime.CollectExit"/>), so exec'd processes other code waits for by pid are
/// never stolen. A re-adopted container is not our child: its status comes from the pidfd itself once its parent
/// (the host's pid 1) has reaped it (<see cref="Rt.Processes.ExitInfo"/>, Linux ≥ 6.15), and is handed to the callback.
/// </summary>
internal sealed class ContainerWatcher : IDisposable
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, (int Pidfd, Action<int?> Exited)> watched = [];

    /// <summary>How long to wait for someone else's reaper before the exit status counts as unknown.</summary>
    private static readonly TimeSpan ReapBound = TimeSpan.FromSeconds(30), ReapPoll = TimeSpan.FromMilliseconds(50);
    private readonly int wake;
    private readonly Thread thread;
    private volatile bool stopping;

    public ContainerWatcher()
    {
        wake = EventFd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wake < 0) throw new NodeException($"eventfd: {Describe(Errno)}");
        thread = new Thread(Loop) { IsBackground = true, Name = "tinyo container watcher" };
        thread.Start();
    }

    /// <summary>
    /// Calls <paramref name="exited"/> (on the thread pool) once <paramref name="pid"/> has ended; at once when it is
    /// gone already. Replaces an earlier watch under the same key. The callback gets the wait status when the process
    /// was someone else's child and the kernel kept its status; null for our own children (the runtime reaps them
    /// and records their status) and when it is unknown.
    /// </summary>
    public void Watch(string key, int pid, Action<int?> exited)
    {
        int fd = PidfdOpen(pid);
        if (fd < 0)
        {
            ThreadPool.QueueUserWorkItem(_ => exited(null));
            return;
        }
        lock (gate)
        {
            if (watched.Remove(key, out var old)) Close(old.Pidfd);
            watched[key] = (fd, exited);
        }
        Wake();
    }

    /// <summary>Stops watching <paramref name="key"/> (no callback).</summary>
    public void Unwatch(string key)
    {
        lock (gate)
            if (watched.Remove(key, out var old)) Close(old.Pidfd);
        Wake();
    }

    private unsafe void Wake()
    {
        ulong one = 1;
        Write(wake, &one, 8);
    }

    private unsafe void Loop()
    {
        var fired = new List<(int Pidfd, Action<int?> Exited)>();
        while (!stopping)
        {
            PollFd[] fds;
            string[] keys;
            lock (gate)
            {
                fds = new PollFd[watched.Count + 1];
                keys = new string[watched.Count];
                fds[0] = new PollFd { Fd = wake, Events = POLLIN };
                int i = 1;
                foreach (var (k, v) in watched)
                {
                    keys[i - 1] = k;
                    fds[i++] = new PollFd { Fd = v.Pidfd, Events = POLLIN };
                }
            }
            int n;
            fixed (PollFd* p = fds) n = Poll(p, (nuint)fds.Length, -1);
            if (n < 0)
            {
                if (Errno == EINTR) continue;
                Thread.Sleep(100); // EBADF from a race with Unwatch: rebuild the set
                continue;
            }
            if ((fds[0].Revents & POLLIN) != 0)
            {
                ulong v;
                Read(wake, &v, 8);
            }
            lock (gate)
            {
                for (int i = 1; i < fds.Length; i++)
                {
                    if (fds[i].Revents == 0) continue;
                    var k = keys[i - 1];
                    if (watched.TryGetValue(k, out var w) && w.Pidfd == fds[i].Fd)
                    {
                        watched.Remove(k);
                        fired.Add(w);
                    }
                }
            }
            foreach (var f in fired) _ = ReportAsync(f.Pidfd, f.Exited);
            fired.Clear();
        }
    }

    /// <summary>Reads the exit status from the pidfd (waiting, bounded, for a foreign reaper), closes it, reports.</summary>
    private static async Task ReportAsync(int pidfd, Action<int?> exited)
    {
        int? status = null;
        try
        {
            await Task.Yield(); // off the poll thread
            status = await Rt.Processes.ExitInfo.WaitReapedAsync(pidfd, ReapPoll, ReapBound).ConfigureAwait(false);
        }
        finally
        {
            Close(pidfd);
            exited(status);
        }
    }

    public void Dispose()
    {
        stopping = true;
        Wake();
        thread.Join(2000);
        lock (gate)
        {
            foreach (var (_, v) in watched) Close(v.Pidfd);
            watched.Clear();
        }
        Close(wake);
    }
}
