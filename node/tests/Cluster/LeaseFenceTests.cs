using System.Diagnostics;
using Tinyo.Node.Cluster;

namespace Tinyo.Node.Tests.Cluster;

/// <summary>
/// The fencing decision (issue 14): a node cut off from the KV majority stops its replicas before its lease can have
/// expired in the KV, and only then; a renewal opens the fence again.
/// </summary>
public sealed class LeaseFenceTests
{
    private static readonly long S = Stopwatch.Frequency;

    private static long At(double seconds) => 1_000 * S + (long)(seconds * S);

    [Fact]
    public void A_node_that_never_renewed_is_never_fenced()
    {
        var f = new LeaseFence(TimeSpan.FromSeconds(1));
        Assert.False(f.Held);
        Assert.False(f.IsFenced(At(0)));
        Assert.False(f.IsFenced(At(3600)));
        Assert.Equal(TimeSpan.MaxValue, f.Remaining(At(10)));
    }

    [Fact]
    public void The_fence_closes_the_margin_before_the_earliest_expiry_counted_from_when_the_renewal_was_sent()
    {
        var ttl = TimeSpan.FromSeconds(5);
        var f = new LeaseFence(LeaseFence.MarginFor(ttl));
        Assert.Equal(TimeSpan.FromSeconds(1), f.Margin);
        f.Renewed(At(10), ttl); // sent at 10 s (its answer may have come much later: the KV's clock started by then)
        Assert.True(f.Held);
        Assert.False(f.IsFenced(At(10)));
        Assert.False(f.IsFenced(At(13.99)));
        Assert.True(f.IsFenced(At(14)));   // 10 + 5 − 1
        Assert.True(f.IsFenced(At(15)));   // the KV may expire it from here on: the node began stopping 1 s before
        Assert.Equal(4.0, f.Remaining(At(10)).TotalSeconds, 3);
        Assert.True(f.Remaining(At(14.5)) < TimeSpan.Zero);
    }

    [Fact]
    public void Every_renewal_that_succeeds_moves_the_deadline_and_opens_a_closed_fence()
    {
        var ttl = TimeSpan.FromSeconds(3);
        var f = new LeaseFence(LeaseFence.MarginFor(ttl));
        for (var t = 0.0; t < 30; t += 1) // renewals every third of the lease: never fenced
        {
            f.Renewed(At(t), ttl);
            Assert.False(f.IsFenced(At(t + 0.99)));
        }
        // Cut off after the renewal sent at 29 s: fenced at 29 + 3 − 0.6.
        Assert.False(f.IsFenced(At(31.39)));
        Assert.True(f.IsFenced(At(31.41)));
        Assert.True(f.IsFenced(At(60)));
        // Back: the registry's new lease (granted at 61 s) opens it.
        f.Renewed(At(61), ttl);
        Assert.False(f.IsFenced(At(61.1)));
    }

    [Fact]
    public void A_late_answer_to_an_older_renewal_never_shortens_the_deadline()
    {
        var ttl = TimeSpan.FromSeconds(3);
        var f = new LeaseFence(LeaseFence.MarginFor(ttl));
        f.Renewed(At(5), ttl);
        f.Renewed(At(2), ttl); // sent earlier, answered later
        Assert.False(f.IsFenced(At(7.3)));
        Assert.True(f.IsFenced(At(7.4)));
    }

    [Fact]
    public void A_zero_or_negative_ttl_is_no_renewal()
    {
        var f = new LeaseFence(TimeSpan.FromSeconds(1));
        f.Renewed(At(0), TimeSpan.Zero);
        Assert.False(f.Held);
        f.Renewed(At(0), TimeSpan.FromSeconds(5));
        f.Renewed(At(1), TimeSpan.FromSeconds(-1));
        Assert.True(f.IsFenced(At(4)));
    }

    [Theory]
    [InlineData(3, 0.0)]
    [InlineData(3, 2.9)]
    [InlineData(5, 0.4)]
    [InlineData(5, 4.9)]
    [InlineData(60, 30)]
    public void The_window_a_fenced_node_stops_before_others_may_start_is_the_margin_whatever_the_answer_delay(int ttlSeconds, double answerDelay)
    {
        // The KV expires a lease no earlier than TTL after the keep-alive reached it, which is after it was sent; the
        // others start a copy only after that (plus their own detection). The node stops at sent + TTL − margin.
        var ttl = TimeSpan.FromSeconds(ttlSeconds);
        var f = new LeaseFence(LeaseFence.MarginFor(ttl));
        var sent = At(100);
        var reachedKv = sent + (long)(answerDelay / 2 * S);
        f.Renewed(sent, ttl);
        var earliestExpiry = reachedKv + ttlSeconds * S;
        var stopAt = sent;
        while (!f.IsFenced(stopAt)) stopAt += S / 100;
        var ahead = (earliestExpiry - stopAt) / (double)S;
        Assert.True(ahead >= f.Margin.TotalSeconds - 0.011, $"fenced only {ahead:0.###} s before the lease could expire");
        Assert.True(ahead <= f.Margin.TotalSeconds + answerDelay / 2 + 0.011);
    }
}
