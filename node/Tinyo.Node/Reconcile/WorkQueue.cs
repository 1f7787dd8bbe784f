using System.Threading.Channels;

namespace Tinyo.Node.Reconcile;

/// <summary>
/// The reconciler's one sequential loop: every decision (desired-state changes, exits, timers, health verdicts)
/// is a work item run here, one at a time, so app state needs no locks. A failing item is logged and the loop goes on.
/// </summary>
internal sealed class WorkQueue(Action<string> log, CancellationToken stopping)
{
    private readonly Channel<Func<Task>> work = Channel.CreateUnbounded<Func<Task>>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Cancelled when the node shuts down (timers stop firing).</summary>
    public CancellationToken Stopping => stopping;

    /// <summary>Queues an item.</summary>
    public void Post(Func<Task> item) => work.Writer.TryWrite(item);

    /// <summary>Queues a synchronous item.</summary>
    public void Post(Action item) => Post(() =>
    {
        item();
        return Task.CompletedTask;
    });

    /// <summary>Queues <paramref name="item"/> after <paramref name="delay"/> (never once stopping).</summary>
    public void After(TimeSpan delay, Func<Task> item)
        => _ = Task.Delay(delay, stopping).ContinueWith(t =>
        {
            if (!t.IsCanceled) Post(item);
        }, TaskScheduler.Default);

    /// <summary>Completes once every item queued before it has run.</summary>
    public Task Idle()
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() => tcs.TrySetResult());
        return tcs.Task;
    }

    /// <summary>No more items; <see cref="RunAsync"/> ends after the queued ones.</summary>
    public void Complete() => work.Writer.TryComplete();

    /// <summary>Runs items until <see cref="Complete"/>.</summary>
    public async Task RunAsync()
    {
        await foreach (var item in work.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await item().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // A bug must not end the loop: log it, the next event or retry converges again.
                log($"reconcile: unexpected {e.GetType().Name}: {e.Message}");
            }
        }
    }
}
