namespace Tinyo.Rt.Duplicate;

/// <summary>
/// Runs the clones of one duplication request on up to <c>parallelism</c> threads of their own, each taking the next
/// clone's index until none is left or one has failed: after a failure no further clone is started, the clones
/// already under way finish (made or failed: each undoes its own half-made parts), and the caller removes the ones
/// made — the request is all or nothing whatever the order the clones ran in.
/// </summary>
/// <remarks>
/// Dedicated threads, not the thread pool: a clone blocks in syscalls for most of its time (its clone(2) waits until
/// the child has exec'd), and its start trace (<see cref="Setup.StartTrace"/>) lives on the thread that makes it.
/// With a parallelism of one the clones are made on the caller's thread, in order, as before.
/// </remarks>
internal static class CloneBatch
{
    /// <summary>Calls <paramref name="clone"/> for every index in [0, <paramref name="count"/>) until one throws;
    /// returns the first exception thrown (null when every clone was made).</summary>
    public static Exception? Run(int count, int parallelism, Action<int> clone)
    {
        Exception? failure = null;
        int next = -1;
        void Work()
        {
            while (Volatile.Read(ref failure) is null)
            {
                int i = Interlocked.Increment(ref next);
                if (i >= count) return;
                try { clone(i); }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref failure, e, null);
                    return;
                }
            }
        }
        if (parallelism <= 1)
        {
            Work();
            return failure;
        }
        var threads = new Thread[parallelism - 1];
        for (int t = 0; t < threads.Length; t++)
        {
            threads[t] = new Thread(Work, 1024 * 1024) { IsBackground = true, Name = "tinyo-dup" };
            threads[t].Start();
        }
        Work(); // the caller's thread is one of the workers
        foreach (var t in threads) t.Join();
        return failure;
    }
}
