using Tinyo.Node.Reconcile;
using Tinyo.Rt;

namespace Tinyo.Node.Tests.Reconcile;

/// <summary>The back-off of failing pulls (issue 10, item 7: a pull that filled the disk was retried at once).</summary>
public class PullBackoffTests
{
    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void Delays_double_from_two_seconds_and_stop_at_the_cap()
    {
        Assert.Equal(TimeSpan.FromSeconds(2), PullBackoff.Delay(1));
        Assert.Equal(TimeSpan.FromSeconds(4), PullBackoff.Delay(2));
        Assert.Equal(TimeSpan.FromSeconds(8), PullBackoff.Delay(3));
        Assert.Equal(TimeSpan.FromSeconds(64), PullBackoff.Delay(6));
        Assert.Equal(PullBackoff.Cap, PullBackoff.Delay(7));
        Assert.Equal(PullBackoff.Cap, PullBackoff.Delay(1000));
    }

    [Fact]
    public async Task A_failing_pull_is_not_retried_before_its_delay_and_a_success_forgets_it()
    {
        var clock = new ManualClock();
        var b = new PullBackoff(clock);
        var calls = 0;
        Task<int> Failing(CancellationToken _)
        {
            calls++;
            throw new RtException("blob sha256:ab: no space left on device in /var/lib/tinyo/rt/tmp");
        }

        await Assert.ThrowsAsync<RtException>(() => b.RunAsync("alpine", Failing, default));
        Assert.Equal(1, calls);
        Assert.Equal(TimeSpan.FromSeconds(2), b.Remaining("alpine"));

        // Too soon: no pull, the last error and the time left instead.
        clock.Now += TimeSpan.FromSeconds(1);
        var e = await Assert.ThrowsAsync<RtException>(() => b.RunAsync("alpine", Failing, default));
        Assert.Equal(1, calls);
        Assert.Contains("no space left on device", e.Message);
        Assert.Contains("next pull in 1 s", e.Message);
        Assert.Equal(TimeSpan.Zero, b.Remaining("busybox")); // other images are not held back

        // Due: it pulls again, fails again, waits twice as long.
        clock.Now += TimeSpan.FromSeconds(1);
        await Assert.ThrowsAsync<RtException>(() => b.RunAsync("alpine", Failing, default));
        Assert.Equal(2, calls);
        Assert.Equal(TimeSpan.FromSeconds(4), b.Remaining("alpine"));
        Assert.Equal(2, b.Failures("alpine"));

        clock.Now += TimeSpan.FromSeconds(4);
        Assert.Equal(7, await b.RunAsync("alpine", _ => Task.FromResult(7), default));
        Assert.Equal(0, b.Failures("alpine"));
        Assert.Equal(TimeSpan.Zero, b.Remaining("alpine"));
    }

    [Fact]
    public async Task A_cancelled_pull_is_not_counted_as_a_failure()
    {
        var b = new PullBackoff(new ManualClock());
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b.RunAsync<int>("alpine", t => Task.FromCanceled<int>(t), cts.Token));
        Assert.Equal(0, b.Failures("alpine"));
        Assert.Equal(TimeSpan.Zero, b.Remaining("alpine"));
    }
}
